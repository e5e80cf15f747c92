//! `StoreFuture`: the answer to a write, delivered only after the committer's fsync.
//!
//! A write is queued to the committer thread together with a oneshot sender; the future
//! resolves when the committer has written (and synced) the batch holding it. Awaiting it never
//! blocks a tokio worker. `wait()` blocks the calling thread instead (parking it, so it works
//! from any thread, runtime or not) for synchronous callers such as `put_blocking`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tokio::sync::oneshot;

use crate::error::StoreError;

/// Resolves to the result of one queued write.
#[must_use = "the write's outcome is only known when this future resolves"]
pub struct StoreFuture<T> {
    rx: oneshot::Receiver<Result<T, StoreError>>,
}

/// The future `Store::put` returns.
pub type PutFuture = StoreFuture<crate::PutOutcome>;

impl<T> StoreFuture<T> {
    pub(crate) fn new(rx: oneshot::Receiver<Result<T, StoreError>>) -> Self {
        StoreFuture { rx }
    }

    /// A future already resolved (a request refused before it reached the committer).
    pub(crate) fn ready(r: Result<T, StoreError>) -> Self {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(r);
        StoreFuture { rx }
    }

    /// Blocks the current thread until the write is durable (or failed).
    pub fn wait(mut self) -> Result<T, StoreError> {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            match Pin::new(&mut self).poll(&mut cx) {
                Poll::Ready(r) => return r,
                Poll::Pending => std::thread::park(),
            }
        }
    }
}

impl<T> Future for StoreFuture<T> {
    type Output = Result<T, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            // The committer dropped the sender: it stopped before handling this write.
            Poll::Ready(Err(_)) => Poll::Ready(Err(StoreError::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }
}
