//! One register's TCP connection: buffered reads that yield whole frames, and buffered writes of
//! acknowledgements.
//!
//! SIM links are slow and flaky, so reading enforces two clocks: an idle timeout (no byte for too
//! long, between or inside messages) and a whole-message deadline that starts at a message's
//! first byte. The second one is what cuts off a slowloris that keeps a connection alive by
//! dribbling bytes, while an honest modem writing one byte at a time still gets through as long
//! as the message completes in time.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::codec::{Frame, FrameCodec, FramingError, Protocol};

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no data for {0:?}")]
    Idle(Duration),
    #[error("message not complete within {0:?} of its first byte")]
    Deadline(Duration),
    #[error("peer closed the connection in the middle of a message ({0} bytes buffered)")]
    Truncated(usize),
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// Bytes that are no frame of the connection's protocol.
    #[error(transparent)]
    Framing(#[from] FramingError),
}

impl ReadError {
    /// Label for `ofd_connections_total{outcome}` / `ofd_frames_rejected_total{reason}`.
    pub fn label(&self) -> &'static str {
        match self {
            ReadError::Idle(_) => "idle_timeout",
            ReadError::Deadline(_) => "slowloris",
            ReadError::Truncated(_) => "truncated",
            ReadError::Io(_) => "io_error",
            ReadError::Framing(e) => e.reason(),
        }
    }
}

pub struct Connection {
    stream: TcpStream,
    read_buf: BytesMut,
    write_buf: Vec<u8>,
    codec: FrameCodec,
    idle: Duration,
    deadline: Duration,
    write_timeout: Duration,
    /// When the first byte of the message now being received arrived.
    message_started: Option<Instant>,
    /// Bytes read so far (for the received-bytes counter).
    pub bytes_read: u64,
}

impl Connection {
    pub fn new(
        stream: TcpStream,
        codec: FrameCodec,
        idle: Duration,
        deadline: Duration,
        write_timeout: Duration,
    ) -> Self {
        Connection {
            stream,
            read_buf: BytesMut::with_capacity(4 * 1024),
            write_buf: Vec::with_capacity(1024),
            codec,
            idle,
            deadline,
            write_timeout,
            message_started: None,
            bytes_read: 0,
        }
    }

    /// Read until at least one whole frame is buffered, then move every complete frame into
    /// `frames` (a register may pipeline its backlog; all of it is answered in order).
    ///
    /// Returns `Ok(false)` on a clean end of stream between messages (including a half-close
    /// after the last message: the caller still answers what it has).
    pub async fn read_frames(&mut self, frames: &mut Vec<Frame>) -> Result<bool, ReadError> {
        loop {
            // Frames are read straight off the buffer (mini-redis `read_frame` style): every
            // whole frame buffered now, then one more read if there was none.
            while let Some(frame) = self.codec.decode(&mut self.read_buf)? {
                frames.push(frame);
            }
            if self.read_buf.is_empty() {
                self.message_started = None;
            } else if self.message_started.is_none() {
                self.message_started = Some(Instant::now());
            }
            if !frames.is_empty() {
                return Ok(true);
            }

            let wait = match self.message_started {
                None => self.idle,
                Some(started) => {
                    let left = self.deadline.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(ReadError::Deadline(self.deadline));
                    }
                    left.min(self.idle)
                }
            };
            let read = tokio::time::timeout(wait, self.stream.read_buf(&mut self.read_buf)).await;
            match read {
                Err(_elapsed) => {
                    return Err(match self.message_started {
                        Some(started) if started.elapsed() >= self.deadline => {
                            ReadError::Deadline(self.deadline)
                        }
                        _ => ReadError::Idle(self.idle),
                    });
                }
                Ok(Err(e)) => return Err(ReadError::Io(e)),
                Ok(Ok(0)) => {
                    return if self.read_buf.is_empty() {
                        Ok(false)
                    } else {
                        Err(ReadError::Truncated(self.read_buf.len()))
                    };
                }
                Ok(Ok(n)) => self.bytes_read += n as u64,
            }
        }
    }

    /// The protocol the peer speaks, once its first byte arrived.
    pub fn protocol(&self) -> Option<Protocol> {
        self.codec.protocol()
    }

    /// Queue bytes for the next flush.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.write_buf.extend_from_slice(bytes);
    }

    /// Write everything queued in one go (one syscall for a whole pipelined batch of acks).
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let res =
            tokio::time::timeout(self.write_timeout, self.stream.write_all(&self.write_buf)).await;
        self.write_buf.clear();
        match res {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "acknowledgement write timed out",
            )),
        }
    }

    /// Send FIN after the last answer, so the peer reads every acknowledgement before EOF.
    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}
