//! Proof that the hot path — `parse_message` + `document()` + `validate` — never allocates, on
//! the real vector and on a 100-item receipt. A counting global allocator counts allocations made
//! by *this thread* while armed (the test harness allocates on other threads).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
use ofd_proto::doctype::DocType;
use ofd_proto::message::parse_message;
use ofd_proto::validate::{ValidationConfig, validate};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: during thread teardown the TLS may be gone; then nothing is counted.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (COUNT.with(Cell::get), r)
}

const VECTOR: &[u8] = include_bytes!(
    "../../../proto-spec/vectors/fiscal-report-correction-fn9999078900005488-fd1.bin"
);

#[test]
fn the_counter_counts() {
    let (n, v) = allocations(|| vec![1u8; 100]);
    assert_eq!(n, 1);
    drop(v);
}

#[test]
fn real_vector_parses_and_validates_without_allocating() {
    let cfg = ValidationConfig::default();
    let (n, ok) = allocations(|| {
        let m = parse_message(VECTOR).unwrap();
        let (doc, trailer) = m.document().unwrap();
        let d = validate(&m, &cfg, 1_488_541_080).unwrap();
        doc.value.len() + trailer.len() + d.fd_number as usize
    });
    assert_eq!(ok, 390 + 10 + 1);
    assert_eq!(n, 0, "parse + document + validate allocated {n} times");
}

#[test]
fn hundred_item_receipt_parses_and_validates_without_allocating() {
    let id = KktIdentity::generate(77);
    let spec = DocSpec {
        items: 100,
        ..DocSpec::new(DocType::Receipt, 4242, 1_700_000_000)
    };
    let mut raw = Vec::new();
    build_message(&id, &spec, &mut raw).unwrap();
    let cfg = ValidationConfig::default();
    let (n, items) = allocations(|| {
        let m = parse_message(&raw).unwrap();
        let (doc, _) = m.document().unwrap();
        let d = validate(&m, &cfg, 1_700_000_000).unwrap();
        assert!(d.total_sum.unwrap() > 0);
        doc.children()
            .filter(|t| matches!(t, Ok(t) if t.tag == 1059))
            .count()
    });
    assert_eq!(items, 100);
    assert_eq!(n, 0, "parse + document + validate allocated {n} times");
}

#[test]
fn failing_validation_does_not_allocate_either() {
    let cfg = ValidationConfig::default();
    // `now` before the document time minus a day: TimeInFuture.
    let (n, r) =
        allocations(|| validate(&parse_message(VECTOR).unwrap(), &cfg, 1_400_000_000).map(drop));
    assert!(r.is_err());
    assert_eq!(n, 0);
}

/// The whole decision (`decide`: parse, control, admission, the answer's address) allocates
/// nothing either, accepted or refused.
#[test]
fn deciding_does_not_allocate() {
    use ofd_proto::decide::{Decision, FnStanding, Policy, decide};
    use ofd_proto::framing::FrameLimits;
    let policy = Policy::default();
    let limits = FrameLimits::default();
    let registered = FnStanding::Registered { encrypted: false };
    let (n, accepted) = allocations(|| {
        matches!(
            decide(VECTOR, &limits, |_| registered, &policy, 1_488_541_080),
            Decision::Accept { .. }
        )
    });
    assert!(accepted);
    assert_eq!(n, 0, "deciding an accepted document allocated {n} times");
    let gone = FnStanding::Deregistered { encrypted: false };
    let (n, refused) = allocations(|| {
        matches!(
            decide(VECTOR, &limits, |_| gone, &policy, 1_488_541_080),
            Decision::Refuse { .. }
        )
    });
    assert!(refused);
    assert_eq!(n, 0, "deciding a refusal allocated {n} times");
}
