//! The 18-byte header and incremental framing: round trip, every error, chunked arrival, and no
//! allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ofd_kz::header::{APPCODE_BYTES, VERSION_202};
use ofd_kz::{FrameLimits, Framing, HEADER_LEN, Header, KzError, check_frame, split_frame};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
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

fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (COUNT.with(Cell::get), r)
}

fn frame(body_len: usize) -> Vec<u8> {
    let h = Header {
        version: VERSION_202,
        size: u32::try_from(HEADER_LEN + body_len).unwrap(),
        id: 22_656,
        token: 0xDEAD_BEEF,
        reqnum: 65_535,
    };
    let mut out = h.encode().to_vec();
    out.extend(std::iter::repeat_n(0xAB, body_len));
    out
}

#[test]
fn header_round_trip_little_endian() {
    let h = Header {
        version: 203,
        size: 0x0102_0304,
        id: 0x0A0B_0C0D,
        token: 0x1122_3344,
        reqnum: 0x5566,
    };
    let b = h.encode();
    assert_eq!(
        b,
        [
            0xA2, 0x81, 203, 0, 0x04, 0x03, 0x02, 0x01, 0x0D, 0x0C, 0x0B, 0x0A, 0x44, 0x33, 0x22,
            0x11, 0x66, 0x55
        ]
    );
    assert_eq!(Header::decode(&b), Ok(h));
}

#[test]
fn incomplete_then_complete() {
    let f = frame(10);
    let limits = FrameLimits::default();
    assert_eq!(
        check_frame(&[], &limits),
        Ok(Framing::Incomplete { needed: 18 })
    );
    assert_eq!(
        check_frame(&f[..1], &limits),
        Ok(Framing::Incomplete { needed: 17 })
    );
    assert_eq!(
        check_frame(&f[..18], &limits),
        Ok(Framing::Incomplete { needed: 10 })
    );
    assert_eq!(
        check_frame(&f[..27], &limits),
        Ok(Framing::Incomplete { needed: 1 })
    );
    assert_eq!(check_frame(&f, &limits), Ok(Framing::Complete { len: 28 }));
    let mut two = f.clone();
    two.extend_from_slice(&f[..5]);
    assert_eq!(
        check_frame(&two, &limits),
        Ok(Framing::Complete { len: 28 })
    );
    // An empty body is a whole (if useless) frame; the decision answers it.
    assert_eq!(
        check_frame(&frame(0), &limits),
        Ok(Framing::Complete { len: 18 })
    );
}

#[test]
fn every_framing_error() {
    let limits = FrameLimits::default();
    // Garbage fails at the first wrong byte, before a header is complete.
    assert_eq!(
        check_frame(b"G", &limits),
        Err(KzError::BadAppCode {
            offset: 0,
            found: b'G'
        })
    );
    assert_eq!(
        check_frame(&[0xA2, 0x00], &limits),
        Err(KzError::BadAppCode {
            offset: 1,
            found: 0
        })
    );
    // The FN–OFD signature is not a KKM–OFD frame.
    assert!(matches!(
        check_frame(&[0x2A, 0x08, 0x41, 0x0A], &limits),
        Err(KzError::BadAppCode { offset: 0, .. })
    ));
    let mut f = frame(0);
    f[4..8].copy_from_slice(&17u32.to_le_bytes());
    assert_eq!(
        check_frame(&f, &limits),
        Err(KzError::SizeTooSmall { size: 17 })
    );
    f[4..8].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(
        check_frame(&f, &limits),
        Err(KzError::SizeTooSmall { size: 0 })
    );
    let small = FrameLimits { max_size: 27 };
    assert_eq!(
        check_frame(&frame(10), &small),
        Err(KzError::SizeTooLarge { size: 28, max: 27 })
    );
    let mut huge = frame(0);
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        check_frame(&huge, &limits),
        Err(KzError::SizeTooLarge {
            size: u32::MAX,
            max: 1 << 20
        })
    );
    // Whole-frame splitting wants exactly SIZE bytes.
    let f = frame(4);
    assert!(split_frame(&f).is_ok());
    assert_eq!(
        split_frame(&f[..20]),
        Err(KzError::Truncated {
            needed: 22,
            got: 20
        })
    );
    assert_eq!(
        split_frame(&f[..10]),
        Err(KzError::Truncated {
            needed: 18,
            got: 10
        })
    );
    let mut long = f.clone();
    long.push(0);
    assert_eq!(
        split_frame(&long),
        Err(KzError::FrameLength {
            declared: 22,
            actual: 23
        })
    );
    for e in [
        KzError::BadAppCode {
            offset: 0,
            found: 0,
        },
        KzError::SizeTooSmall { size: 0 },
        KzError::SizeTooLarge { size: 0, max: 0 },
        KzError::Truncated { needed: 0, got: 0 },
        KzError::FrameLength {
            declared: 0,
            actual: 0,
        },
    ] {
        assert!(KzError::REASONS.contains(&e.reason()));
        assert_eq!(e.disposition(), ofd_kz::Disposition::Close);
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn appcode_constant() {
    assert_eq!(APPCODE_BYTES, [0xA2, 0x81]);
}

#[test]
fn framing_never_allocates() {
    let f = frame(300);
    let limits = FrameLimits::default();
    let (n, ()) = allocations(|| {
        for end in 0..=f.len() {
            let _ = std::hint::black_box(check_frame(&f[..end], &limits));
        }
        let _ = std::hint::black_box(split_frame(&f));
        let _ = std::hint::black_box(check_frame(b"GET / HTTP/1.1", &limits));
        let _ = std::hint::black_box(Header::decode(&f));
        let _ = std::hint::black_box(Header::decode(&f).map(|h| h.encode()));
    });
    assert_eq!(n, 0, "framing allocated {n} times");
}
