//! One client connection: read → parse → dispatch → one write per read.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::dispatch;
use crate::commands::{client_evict, stats, ClientRef};
use crate::config::{self, Opt};
use crate::protocol::{Parsed, ProtocolError, RequestParser};
use crate::storage::journal;

/// First read buffer size; it grows with need (10k idle connections with
/// 32 KiB each would waste 300 MB).
const READ_CHUNK: usize = 4096;
/// Largest single read we ask for while a big argument is arriving.
const READ_MAX: usize = 1 << 20;

pub async fn serve(mut stream: TcpStream, client: ClientRef) {
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::default();
    let mut parsed = Pending::default();
    let mut timeout = 0;
    // Commands left in the buffer after an unauthenticated client's first one.
    let mut buffered = false;
    loop {
        // Subscribers wait for messages, not commands: no idle timeout.
        let t = if client.borrow().subs.is_some() {
            0
        } else {
            config::num(Opt::Timeout)
        };
        if t != timeout {
            timeout = t;
            let _ = stream.set_read_timeout((t > 0).then(|| Duration::from_secs(t as u64)));
        }
        let mut pushed = false;
        if !buffered {
            let start = rbuf.len();
            let want = parser
                .pending_bulk()
                .saturating_sub(start)
                .clamp(READ_CHUNK, READ_MAX);
            rbuf.reserve(want);
            let spare = rbuf.spare_capacity_mut();
            let len = spare.len().min(READ_MAX);
            // SAFETY: the socket read only writes into this slice, and only
            // the `n` bytes it reports written are added to the buffer below,
            // so no uninitialized byte is ever read. (Zeroing 4 KiB per read
            // showed up in profiles.)
            let dst =
                unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<u8>(), len) };
            // Wait for the client's next bytes or for a message to push to it.
            // (A read that loses the race has taken nothing: glommio reads
            // only once the socket is ready.)
            let read = futures_lite::future::or(async { Some(stream.read(dst).await) }, async {
                pushes_ready(&client).await;
                None
            })
            .await;
            let n = match read {
                None => {
                    pushed = true;
                    0
                }
                Some(Ok(0) | Err(_)) => break,
                Some(Ok(n)) => n,
            };
            // SAFETY: `n` bytes past the old length were just written.
            unsafe { rbuf.set_len(start + n) };
            if n > 0 {
                stats::with(|s| {
                    s.net_input_bytes += n as u64;
                    s.reads_processed += 1;
                });
            }
        }
        if rbuf.len() as i64 > config::num(Opt::ClientQueryBufferLimit) {
            tracing::warn!(
                "Closing client that reached max query buffer length: {}",
                client.borrow().info_line()
            );
            break;
        }
        client.borrow_mut().set_buffers(rbuf.len(), out.len());
        client_evict::evict_if_needed();

        let (cmds, error, more) = if pushed {
            (Vec::new(), None, false)
        } else {
            parse_all(&mut parser, &mut parsed, &mut rbuf, &client)
        };
        buffered = more;
        let mut close = error.is_some();
        let capacity = out.capacity();
        if !cmds.is_empty() {
            let durable = journal::replies_wait() && cmds.iter().any(|a| dispatch::may_write(a));
            let outs = dispatch::run_batch(&client, cmds).await;
            let mut cut_off = false;
            // The writes go into the journal before their replies go out;
            // with `appendfsync always` the replies wait for the fsync.
            journal::publish();
            if durable {
                journal::durable(journal::last_published()).await;
            }
            for o in outs {
                if let crate::protocol::Reply::Error(e) = &o.reply {
                    stats::with(|s| s.error(e));
                }
                if o.send {
                    o.reply.encode(o.resp3, &mut out);
                    let mut c = client.borrow_mut();
                    // Counted for maxmemory-clients once the batch is out.
                    c.obuf = out.len();
                    if c.output_grew() {
                        cut_off = true;
                        break;
                    }
                }
            }
            if cut_off {
                // Past client-output-buffer-limit: closed, its replies
                // dropped, as Redis does.
                break;
            }
            close |= client.borrow().close_after_reply;
        }
        if let Some(e) = error {
            tracing::debug!(
                "Protocol error ({}) from client: {}",
                e.text(),
                client.borrow().info_line()
            );
            out.extend_from_slice(b"-ERR ");
            out.extend_from_slice(&e.0);
            out.extend_from_slice(b"\r\n");
            stats::with(|s| s.error("ERR"));
        }
        {
            let mut c = client.borrow_mut();
            // Messages queued while the commands ran go after their replies.
            out.extend_from_slice(&c.pushes);
            c.pushes.clear();
            c.last_active = std::time::Instant::now();
            c.set_buffers(rbuf.len(), out.len());
        }
        client_evict::evict_if_needed();
        if out.capacity() > capacity {
            stats::with(|s| s.reply_buffer_expands += 1);
        }
        if !out.is_empty() {
            // Let every connection whose bytes arrived in this executor
            // turn run its commands first, so the replies leave together
            // (as Redis writes before it sleeps): written one by one, each
            // woke the client anew, and each wake-up cost this send an
            // inter-processor interrupt (docs/performance.md).
            futures_lite::future::yield_now().await;
            if stream.write_all(&out).await.is_err() {
                break;
            }
            stats::with(|s| {
                s.net_output_bytes += out.len() as u64;
                s.writes_processed += 1;
            });
            out.clear();
            client.borrow_mut().set_buffers(rbuf.len(), 0);
            if out.capacity() > 64 * READ_CHUNK {
                out.shrink_to(READ_CHUNK);
                stats::with(|s| s.reply_buffer_shrinks += 1);
            }
        }
        if close {
            break;
        }
        // PSYNC: the socket becomes a replica link elsewhere; this task ends
        // (closing its own descriptor only).
        let take_over = client.borrow_mut().take_over.take();
        if let Some(t) = take_over {
            use std::os::fd::{AsRawFd, BorrowedFd};
            // SAFETY: the descriptor is the stream's, open while it lives.
            let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
            if let Ok(fd) = fd.try_clone_to_owned() {
                (t.0)(fd, rbuf.split().freeze());
            }
            break;
        }
    }
    let _ = stream.flush().await;
    client.borrow_mut().unregister();
}

/// Resolves once the client has messages waiting to be written.
fn pushes_ready(client: &ClientRef) -> impl std::future::Future<Output = ()> + '_ {
    futures_lite::future::poll_fn(move |cx| {
        let mut c = client.borrow_mut();
        if c.pushes.is_empty() {
            c.push_waker = Some(cx.waker().clone());
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
}

/// Takes every complete command out of the buffer. Stops at a protocol
/// error (the commands before it still run, as in Redis), and after one
/// command while the client is not authenticated, since AUTH changes the
/// limits for the next one.
/// The flag says whether complete commands may remain in the buffer.
fn parse_all(
    parser: &mut RequestParser,
    parsed: &mut Pending,
    rbuf: &mut BytesMut,
    client: &ClientRef,
) -> (Vec<Vec<Bytes>>, Option<ProtocolError>, bool) {
    let mut cmds = Vec::new();
    let limits = dispatch::limits(client);
    let (error, more) = loop {
        let one_parsed = !cmds.is_empty() || !parsed.ends.is_empty();
        if !limits.authenticated && one_parsed {
            break (None, rbuf.len() > parsed.used);
        }
        match parser.parse(&rbuf[parsed.used..], limits) {
            Ok(None) => break (None, false),
            Ok(Some(Parsed::Args(used))) => parsed.add(parser.args(), used),
            Ok(Some(Parsed::Inline(args, used))) => {
                parsed.cut(rbuf, &mut cmds);
                rbuf.advance(used);
                cmds.push(args.into_iter().map(Bytes::from).collect());
            }
            Ok(Some(Parsed::Empty(used))) => parsed.used += used,
            Err(e) => break (Some(e), false),
        }
    };
    parsed.cut(rbuf, &mut cmds);
    (cmds, error, more)
}

/// Commands parsed at the front of the read buffer and not cut from it
/// yet. They leave it in one piece, so a read's commands share one
/// reference-counted block (one count per argument, none per command).
/// The connection keeps one, so its vectors are allocated once.
#[derive(Default)]
struct Pending {
    /// Bytes of the buffer they span.
    used: usize,
    /// Every command's argument ranges, one after the other.
    ranges: Vec<std::ops::Range<usize>>,
    /// Where each command's ranges end in `ranges`.
    ends: Vec<usize>,
}

impl Pending {
    fn add(&mut self, args: &[std::ops::Range<usize>], used: usize) {
        let at = self.used;
        self.ranges
            .extend(args.iter().map(|r| r.start + at..r.end + at));
        self.ends.push(self.ranges.len());
        self.used += used;
    }

    /// Cuts the parsed bytes from the buffer into `cmds`.
    fn cut(&mut self, rbuf: &mut BytesMut, cmds: &mut Vec<Vec<Bytes>>) {
        if self.used == 0 {
            return;
        }
        let block = rbuf.split_to(self.used).freeze();
        cmds.reserve(self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            let args = &self.ranges[start..end];
            cmds.push(args.iter().map(|r| block.slice(r.clone())).collect());
            start = end;
        }
        self.used = 0;
        self.ranges.clear();
        self.ends.clear();
    }
}
