//! A TCP proxy in front of PostgreSQL that a test can cut and restore, and that records the
//! SQL its clients send (so a test can EXPLAIN exactly what a handler ran).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// One statement a client executed through the proxy: its SQL text and the parameter
/// values bound to it, as sent on the wire (`None` is SQL NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub sql: String,
    pub params: Vec<Option<Vec<u8>>>,
    /// Whether each parameter was sent in binary (tokio-postgres sends every one so).
    pub binary: Vec<bool>,
}

/// A TCP proxy in front of PostgreSQL that a test can cut (every connection dropped, new
/// ones refused) and restore: the database "going away" without touching the shared cluster.
pub struct DbProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    /// Bumped by every cut; each connection ends as soon as it sees a newer value.
    generation: watch::Sender<u64>,
    /// How many proxied connections are open.
    open: Arc<watch::Sender<usize>>,
    executed: Arc<Mutex<Vec<Executed>>>,
}

impl DbProxy {
    /// Starts a proxy to the server of `url`.
    pub async fn start(url: &str) -> DbProxy {
        let pg: tokio_postgres::Config = url.parse().unwrap();
        let target = format!("127.0.0.1:{}", pg.get_ports()[0]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (generation, cuts) = watch::channel(0u64);
        let open = Arc::new(watch::channel(0usize).0);
        let executed = Arc::new(Mutex::new(Vec::new()));
        let proxy = DbProxy {
            port,
            up: up.clone(),
            generation,
            open: open.clone(),
            executed: executed.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = cuts.clone();
                cut.mark_unchanged();
                let (target, open, executed) = (target.clone(), open.clone(), executed.clone());
                open.send_modify(|n| *n += 1);
                tokio::spawn(async move {
                    if let Ok(outbound) = tokio::net::TcpStream::connect(&target).await {
                        let (client_read, client_write) = inbound.into_split();
                        let (server_read, server_write) = outbound.into_split();
                        tokio::select! {
                            biased;
                            _ = cut.changed() => {}
                            _ = pump_client(client_read, server_write, executed) => {}
                            _ = pump(server_read, client_write) => {}
                        }
                    }
                    // Both sockets are dropped here: the client sees the connection end.
                    open.send_modify(|n| *n -= 1);
                });
            }
        });
        proxy
    }

    /// The database URL through the proxy.
    pub fn url(&self, url: &str) -> String {
        let pg: tokio_postgres::Config = url.parse().unwrap();
        let db = pg.get_dbname().unwrap_or("postgres");
        let user = pg.get_user().unwrap_or("postgres");
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// Drops every connection and refuses new ones. [`DbProxy::closed`] waits until the
    /// open connections are gone.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Resolves once no proxied connection is open (after [`DbProxy::cut`]: once every
    /// client has lost its connection).
    pub async fn closed(&self) {
        let mut open = self.open.subscribe();
        open.wait_for(|n| *n == 0)
            .await
            .expect("the proxy keeps its sender");
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Every statement executed through the proxy so far, in order.
    pub fn executed(&self) -> Vec<Executed> {
        self.executed.lock().unwrap().clone()
    }

    /// Forgets the recorded statements.
    pub fn clear_executed(&self) {
        self.executed.lock().unwrap().clear();
    }
}

/// Copies one direction until it ends.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
) -> std::io::Result<()> {
    tokio::io::copy(&mut from, &mut to).await?;
    to.shutdown().await
}

/// Copies the client's bytes to the server unchanged, reading the protocol messages on the
/// way to record what is executed.
async fn pump_client(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    executed: Arc<Mutex<Vec<Executed>>>,
) -> std::io::Result<()> {
    let mut reader = FrontendReader::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        for statement in reader.feed(&buf[..n]) {
            executed.lock().unwrap().push(statement);
        }
        to.write_all(&buf[..n]).await?;
    }
}

/// Reads the frontend side of the PostgreSQL protocol (v3) as far as needed: the untyped
/// startup packets, then Parse (statement name and SQL), Bind (statement and parameter
/// values) and simple Query messages. Anything it cannot follow (TLS, a malformed stream)
/// stops the reading, never the forwarding.
#[derive(Default)]
struct FrontendReader {
    pending: Vec<u8>,
    started: bool,
    lost: bool,
    prepared: HashMap<String, String>,
}

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

impl FrontendReader {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Executed> {
        let mut out = Vec::new();
        if self.lost {
            return out;
        }
        self.pending.extend_from_slice(bytes);
        loop {
            let (header, length_at) = if self.started { (5, 1) } else { (4, 0) };
            if self.pending.len() < header {
                break;
            }
            let length =
                u32::from_be_bytes(self.pending[length_at..length_at + 4].try_into().unwrap())
                    as usize;
            if !(4..=1 << 30).contains(&length) {
                self.lost = true;
                break;
            }
            let total = length_at + length;
            if self.pending.len() < total {
                break;
            }
            let message: Vec<u8> = self.pending.drain(..total).collect();
            if !self.started {
                let code = u32::from_be_bytes(message[4..8].try_into().unwrap());
                if code == SSL_REQUEST || code == GSSENC_REQUEST {
                    // Answered with one byte; 'S' would mean TLS, which this cannot read.
                    continue;
                }
                self.started = true;
                continue;
            }
            match self.read_message(message[0], &message[5..]) {
                Some(Some(executed)) => out.push(executed),
                Some(None) => {}
                None => {
                    self.lost = true;
                    break;
                }
            }
        }
        out
    }

    /// `None` when the message cannot be read.
    fn read_message(&mut self, kind: u8, body: &[u8]) -> Option<Option<Executed>> {
        let mut body = Cursor(body);
        Some(match kind {
            b'Q' => Some(Executed {
                sql: body.cstr()?,
                params: Vec::new(),
                binary: Vec::new(),
            }),
            b'P' => {
                let name = body.cstr()?;
                let sql = body.cstr()?;
                self.prepared.insert(name, sql);
                None
            }
            b'B' => {
                let _portal = body.cstr()?;
                let statement = body.cstr()?;
                let formats: Vec<i16> = (0..body.i16()?)
                    .map(|_| body.i16())
                    .collect::<Option<_>>()?;
                let count = body.i16()? as usize;
                let mut params = Vec::with_capacity(count);
                for _ in 0..count {
                    let len = body.i32()?;
                    params.push(if len < 0 {
                        None
                    } else {
                        Some(body.take(len as usize)?.to_vec())
                    });
                }
                // One format code applies to all; none means text for all.
                let binary = (0..count)
                    .map(|i| match formats.len() {
                        0 => false,
                        1 => formats[0] == 1,
                        _ => formats.get(i) == Some(&1),
                    })
                    .collect();
                Some(Executed {
                    sql: self.prepared.get(&statement)?.clone(),
                    params,
                    binary,
                })
            }
            _ => None,
        })
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn cstr(&mut self) -> Option<String> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let text = String::from_utf8(self.0[..end].to_vec()).ok()?;
        self.0 = &self.0[end + 1..];
        Some(text)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}
