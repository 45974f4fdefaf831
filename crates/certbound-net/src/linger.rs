//! Lingering close (RFC 9112 §9.6): a connection the server closes while the client may still be
//! sending (a `413` before the body was read, a `431` in the middle of a long head) must not be
//! dropped at once, or the kernel answers the client's next bytes with a reset and the client,
//! still writing, reports "broken pipe" or "connection reset" without ever reading the response.
//!
//! [`Linger`] wraps a connection's stream. When hyper shuts it down (after the last response is
//! written), it shuts down the write side (TLS `close_notify`, TCP FIN) and then reads and
//! discards what the client still sends until the client closes, `max_bytes` were discarded or
//! `time` has passed; only then is the shutdown complete and the socket dropped. The same as
//! nginx's `lingering_close`. A close the server decides on a connection with no request in
//! flight (idle timeout, eviction, shutdown) has nothing to wait for: [`LingerSwitch::off`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How long and how much a lingering close reads at most.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LingerLimits {
    /// 0 disables lingering.
    pub(crate) time: Duration,
    pub(crate) max_bytes: usize,
}

/// Turns lingering off for one connection (before closing it for the server's own reasons).
#[derive(Clone, Default)]
pub(crate) struct LingerSwitch(Arc<AtomicBool>);

impl LingerSwitch {
    /// The client is not sending a request: close without lingering.
    pub(crate) fn off(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_off(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A stream whose shutdown lingers; see the module documentation.
pub(crate) struct Linger<IO> {
    io: IO,
    limits: LingerLimits,
    switch: LingerSwitch,
    /// The client closed its side: nothing to linger for.
    peer_closed: bool,
    state: State,
}

enum State {
    Open,
    Draining { until: Pin<Box<Sleep>>, left: usize },
    Closed,
}

impl<IO> Linger<IO> {
    pub(crate) fn new(io: IO, limits: LingerLimits, switch: LingerSwitch) -> Self {
        Linger {
            io,
            limits,
            switch,
            peer_closed: false,
            state: State::Open,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Linger<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            if buf.filled().len() == before && buf.remaining() > 0 {
                this.peer_closed = true;
            }
        }
        r
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Linger<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Open => {
                    let shut = ready!(Pin::new(&mut this.io).poll_shutdown(cx));
                    if shut.is_err()
                        || this.peer_closed
                        || this.limits.time.is_zero()
                        || this.switch.is_off()
                    {
                        this.state = State::Closed;
                        return Poll::Ready(shut);
                    }
                    this.state = State::Draining {
                        until: Box::pin(tokio::time::sleep(this.limits.time)),
                        left: this.limits.max_bytes,
                    };
                }
                State::Draining { until, left } => {
                    if until.as_mut().poll(cx).is_ready() || *left == 0 {
                        this.state = State::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match ready!(Pin::new(&mut this.io).poll_read(cx, &mut buf)) {
                        Ok(()) if !buf.filled().is_empty() => {
                            *left = left.saturating_sub(buf.filled().len());
                        }
                        // End of stream, or an error: the client is gone.
                        _ => this.state = State::Closed,
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(secs: u64, max_bytes: usize) -> LingerLimits {
        LingerLimits {
            time: Duration::from_secs(secs),
            max_bytes,
        }
    }

    #[tokio::test]
    async fn shutdown_waits_for_the_peer_to_close_and_discards_what_it_sends() {
        let (server, mut client) = tokio::io::duplex(64);
        let mut server = Linger::new(server, limits(30, 1 << 20), LingerSwitch::default());
        let closing = tokio::spawn(async move { server.shutdown().await });
        // The client sees the end of the stream, can still write, then closes.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        client.write_all(&[7u8; 10_000]).await.unwrap();
        assert!(!closing.is_finished());
        drop(client);
        closing.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn lingering_is_bounded_in_time_and_bytes() {
        let (server, _client) = tokio::io::duplex(64);
        let mut server = Linger::new(server, limits(3, 1 << 20), LingerSwitch::default());
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(4),
            "{took:?}"
        );

        let (server, mut client) = tokio::io::duplex(64);
        let mut server = Linger::new(server, limits(3600, 100), LingerSwitch::default());
        let writing = tokio::spawn(async move {
            let _ = client.write_all(&[1u8; 1000]).await;
            client
        });
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        // Stopped by the byte limit, not the hour.
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(writing);
    }

    #[tokio::test]
    async fn a_switched_off_close_does_not_linger() {
        let (server, _client) = tokio::io::duplex(64);
        let switch = LingerSwitch::default();
        let mut server = Linger::new(server, limits(3600, 1 << 20), switch.clone());
        switch.off();
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_peer_that_closed_first_is_not_waited_for() {
        let (server, client) = tokio::io::duplex(64);
        let mut server = Linger::new(server, limits(3600, 1 << 20), LingerSwitch::default());
        drop(client);
        let mut buf = [0u8; 8];
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        server.shutdown().await.unwrap();
    }
}
