//! A piece's standard error, kept for its crash message: the last 2 KiB it wrote (a
//! Rust piece's panic message goes there), so a trap can say why the piece crashed
//! ("panicked at src/lib.rs:49: the piece panicked on purpose"). Writes never fail
//! and never wait: older lines are dropped whole (never a line cut in two, which could
//! hold an unrecognisable piece of a secret), so a chatty piece cannot trap or stall on
//! it. The text is scrubbed, escaped and capped before it reaches anyone.

use hyper::body::Bytes;
use std::sync::{Arc, Mutex};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of standard error kept.
const KEEP: usize = 2048;

/// The tail of a call's standard error; clones share it.
#[derive(Clone, Default)]
pub struct StderrTail(Arc<Mutex<Vec<u8>>>);

impl StderrTail {
    /// What the piece wrote last, as one line without the tool's hints (`note: …`),
    /// or `None` when it wrote nothing.
    pub fn last_words(&self) -> Option<String> {
        let bytes = self.0.lock().ok()?.clone();
        let text = String::from_utf8_lossy(&bytes);
        let words: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note:"))
            .collect();
        (!words.is_empty()).then(|| words.join(" "))
    }
}

impl wasmtime_wasi::cli::IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl StderrTail {
    fn keep(&self, bytes: &[u8]) {
        if let Ok(mut kept) = self.0.lock() {
            kept.extend_from_slice(bytes);
            if kept.len() > KEEP {
                // Cut at a line start: a line cut in the middle could hold the tail of a
                // secret the scrubber no longer recognises.
                let cut = kept.len() - KEEP;
                let line_end = kept[cut..].iter().position(|&b| b == b'\n');
                match line_end {
                    Some(at) => drop(kept.drain(..cut + at + 1)),
                    None => kept.clear(),
                }
            }
        }
    }
}

impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.keep(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_words_without_hints() {
        let mut tail = StderrTail::default();
        assert_eq!(tail.last_words(), None);
        tail.write(Bytes::from("x".repeat(5000))).expect("write");
        tail.write(Bytes::from_static(
            b"\nthread '<unnamed>' panicked at src/lib.rs:49:23:\nboom\nnote: run with `RUST_BACKTRACE=1`\n",
        ))
        .expect("write");
        let words = tail.last_words().expect("words");
        assert!(
            words.ends_with("panicked at src/lib.rs:49:23: boom"),
            "{words}"
        );
        assert!(words.len() <= KEEP);
    }
}
