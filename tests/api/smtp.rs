//! A small SMTP server for the tests, on a loopback port: it speaks enough of the
//! protocol for lettre (EHLO/HELO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT),
//! keeps every message it accepts, refuses chosen recipients with a permanent 550
//! or a temporary 451,
//! and can be stopped and started again on the same port.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A message as received: the envelope and the raw data.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

/// What the tests read of a received message.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
    /// (file name, content type, bytes)
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

impl Received {
    pub fn parse(&self) -> Parsed {
        let message = MessageParser::default()
            .parse(&self.data)
            .expect("a message that parses");
        Parsed {
            to: message
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_string(),
            subject: message.subject().unwrap_or_default().to_string(),
            message_id: message.message_id().unwrap_or_default().to_string(),
            text: message.body_text(0).unwrap_or_default().to_string(),
            html: message.body_html(0).unwrap_or_default().to_string(),
            attachments: message
                .attachments()
                .map(|part| {
                    let content_type = part
                        .content_type()
                        .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
                        .unwrap_or_default();
                    (
                        part.attachment_name().unwrap_or_default().to_string(),
                        content_type,
                        part.contents().to_vec(),
                    )
                })
                .collect(),
        }
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    refused: Mutex<Vec<String>>,
    deferred: Mutex<Vec<String>>,
}

pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("smtp bind");
        let port = listener.local_addr().expect("smtp addr").port();
        let server = SmtpServer {
            port,
            shared: Arc::new(Shared::default()),
            task: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn serve(&self, listener: TcpListener) {
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            // Dropped with the task: every open connection ends with it.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(session(stream, shared.clone()));
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Closes the port and every open connection: clients get "connection refused".
    pub async fn stop(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => return self.serve(listener),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen again on {}: {e}", self.port),
            }
        }
    }

    /// Answers 550 to `RCPT TO` this address from now on.
    pub fn refuse(&self, address: &str) {
        self.shared
            .refused
            .lock()
            .unwrap()
            .push(address.to_lowercase());
    }

    /// Accepts this address again after `refuse`.
    pub fn accept(&self, address: &str) {
        self.shared
            .refused
            .lock()
            .unwrap()
            .retain(|a| *a != address.to_lowercase());
    }

    /// Answers 451 (try again later) to `RCPT TO` this address, until `undefer`.
    pub fn defer(&self, address: &str) {
        self.shared
            .deferred
            .lock()
            .unwrap()
            .push(address.to_lowercase());
    }

    pub fn undefer(&self, address: &str) {
        self.shared
            .deferred
            .lock()
            .unwrap()
            .retain(|a| *a != address.to_lowercase());
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The messages to `address` received so far.
    pub fn to(&self, address: &str) -> Vec<Parsed> {
        self.received()
            .iter()
            .filter(|r| r.rcpt_to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .map(Received::parse)
            .collect()
    }

    /// Waits until `count` messages to `address` arrived (fails after `timeout`).
    pub async fn wait_for(&self, address: &str, count: usize, timeout: Duration) -> Vec<Parsed> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.to(address);
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{count} message(s) to {address} expected within {timeout:?}, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn reply(w: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> bool {
    w.write_all(text.as_bytes()).await.is_ok()
}

fn path_of(arg: &str) -> String {
    let start = arg.find('<').map(|i| i + 1).unwrap_or(0);
    let end = arg[start..]
        .find('>')
        .map(|i| start + i)
        .unwrap_or(arg.len());
    arg[start..end].trim().to_string()
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if !reply(&mut write, "220 localhost ESMTP test server\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::<String>::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_string();
        let upper = command.to_uppercase();
        let answer = if upper.starts_with("EHLO") {
            "250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".to_string()
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            "250 OK\r\n".to_string()
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            "250 OK\r\n".to_string()
        } else if upper.starts_with("MAIL FROM:") {
            from = path_of(&command[10..]);
            to.clear();
            "250 OK\r\n".to_string()
        } else if upper.starts_with("RCPT TO:") {
            let address = path_of(&command[8..]).to_lowercase();
            if shared.refused.lock().unwrap().contains(&address) {
                "550 5.1.1 mailbox unavailable\r\n".to_string()
            } else if shared.deferred.lock().unwrap().contains(&address) {
                "451 4.3.0 try again later\r\n".to_string()
            } else {
                to.push(address);
                "250 OK\r\n".to_string()
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                "503 5.5.1 no valid recipients\r\n".to_string()
            } else {
                if !reply(&mut write, "354 end data with <CR><LF>.<CR><LF>\r\n").await {
                    return;
                }
                let mut data = Vec::new();
                loop {
                    let mut raw = Vec::new();
                    match lines.read_until(b'\n', &mut raw).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if raw == b".\r\n" || raw == b".\n" {
                        break;
                    }
                    let unstuffed = if raw.starts_with(b"..") {
                        &raw[1..]
                    } else {
                        &raw[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                shared.received.lock().unwrap().push(Received {
                    mail_from: from.clone(),
                    rcpt_to: std::mem::take(&mut to),
                    data,
                });
                "250 2.0.0 OK queued\r\n".to_string()
            }
        } else if upper.starts_with("QUIT") {
            let _ = reply(&mut write, "221 2.0.0 bye\r\n").await;
            return;
        } else {
            "502 5.5.2 command not implemented\r\n".to_string()
        };
        if !reply(&mut write, &answer).await {
            return;
        }
    }
}
