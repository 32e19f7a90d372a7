//! The cross-instance listener of [`PostgresStore`](super::PostgresStore): reads
//! `tg_events` (schema 7) and publishes each event on the store's [`EventBus`].
//!
//! - One dedicated (unpooled) connection as the service login. It LISTENs on `tg_events`
//!   and proves at start-up that notifications reach it (a self-probe: it notifies itself
//!   with a random payload and waits for it); behind a transaction pooler the probe fails
//!   and the polling fallback alone carries the news.
//! - Polling is the source of truth, notifications only wake it early. Each poll reads
//!   every event whose writing transaction id is at or above the *horizon* (the oldest
//!   transaction still running at the previous poll), so an event of a transaction that
//!   committed late, after events with higher ids were read, is never skipped; events
//!   read twice are recognised by id.
//! - After a reconnect it carries on from the same horizon, so the events written while
//!   it was away (whose notifications are lost) are read then; if it was away longer
//!   than half the events' retention it publishes [`Event::Resync`] instead of trusting
//!   the table to still hold them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{AsyncMessage, Config, NoTls};

use crate::events::{Event, EventBus, EventFeed, FeedStatus};

/// The channel the triggers notify.
const CHANNEL: &str = "tg_events";
/// How long the start-up self-probe waits for its own notification.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// Events are pruned after one hour (schema 7); a listener away for longer than half of
/// that drops every cache instead of relying on the table.
const TRUST_GAP: Duration = Duration::from_secs(30 * 60);
/// Pruning runs about once per this many polls.
const PRUNE_EVERY: u64 = 600;
/// Most events one poll reads; the rest come with the next poll, at once.
const POLL_BATCH: i64 = 10_000;
/// Most event ids remembered above the horizon; past it (a transaction held open for a
/// very long time while many events are written) the listener resyncs.
const MAX_SEEN: usize = 1_000_000;

/// Smallest and largest poll interval accepted.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// See [`MIN_POLL_INTERVAL`].
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct PgFeed {
    bus: Arc<EventBus>,
    status: Mutex<FeedStatus>,
}

impl EventFeed for PgFeed {
    fn bus(&self) -> Arc<EventBus> {
        self.bus.clone()
    }
    fn status(&self) -> FeedStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Stops the listener when the store goes.
pub(crate) struct FeedTask {
    pub(crate) feed: Arc<PgFeed>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FeedTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Listener {
    cfg: Config,
    notifications: bool,
    interval: Duration,
    /// Transactions with ids below this are over and their events were all read.
    horizon: u64,
    /// Ids of events at or above the horizon already published, with their xid.
    seen: HashMap<i64, u64>,
    polls: u64,
}

type Conn = (
    tokio_postgres::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::task::JoinHandle<()>,
);

async fn connect(cfg: &Config) -> Result<Conn, tokio_postgres::Error> {
    let (client, mut conn) = cfg.connect(NoTls).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(m) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    Ok((client, rx, task))
}

fn parse_xid(s: &str) -> Option<u64> {
    s.parse().ok()
}

impl Listener {
    async fn horizon_now(client: &tokio_postgres::Client) -> Result<u64, tokio_postgres::Error> {
        let row = client
            .query_one(
                "SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text",
                &[],
            )
            .await?;
        Ok(parse_xid(row.get::<_, &str>(0)).unwrap_or(0))
    }

    /// Reads and publishes every new event; returns whether it may have left some (a full batch).
    async fn poll(
        &mut self,
        client: &tokio_postgres::Client,
        feed: &PgFeed,
    ) -> Result<bool, tokio_postgres::Error> {
        // The horizon first: every transaction below it is over, so the read that
        // follows (a later snapshot) sees all of their events.
        let next = Self::horizon_now(client).await?;
        let rows = client
            .query(
                "SELECT id, kind, tenant_id, subject, xid::text FROM public.tg_events
                 WHERE xid >= $1::text::xid8 ORDER BY id LIMIT $2",
                &[&self.horizon.to_string(), &POLL_BATCH],
            )
            .await?;
        let full = rows.len() as i64 >= POLL_BATCH;
        let mut received = 0;
        for r in &rows {
            let id: i64 = r.get(0);
            if self.seen.contains_key(&id) {
                continue;
            }
            let xid = parse_xid(r.get::<_, &str>(4)).unwrap_or(u64::MAX);
            self.seen.insert(id, xid);
            received += 1;
            if let Some(e) = Event::from_parts(r.get(1), r.get(2), r.get(3)) {
                feed.bus.publish(&e);
            }
        }
        if !full {
            // With a full batch the horizon stays: the rest is read next time.
            self.horizon = self.horizon.max(next);
            let h = self.horizon;
            self.seen.retain(|_, x| *x >= h);
        }
        if self.seen.len() > MAX_SEEN {
            self.seen.clear();
            self.horizon = next;
            feed.bus.publish(&Event::Resync);
        }
        self.polls += 1;
        if self.polls.is_multiple_of(PRUNE_EVERY) {
            // Best effort: a failed prune only keeps rows longer.
            let _ = client.execute("SELECT public.tg_prune_events()", &[]).await;
        }
        let mut st = feed.status.lock().unwrap_or_else(|p| p.into_inner());
        st.polls = self.polls;
        st.received += received;
        Ok(full)
    }

    /// LISTEN, then proves notifications arrive on this connection.
    async fn probe(
        client: &tokio_postgres::Client,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    ) -> bool {
        if client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .is_err()
        {
            return false;
        }
        let mut nonce = [0u8; 16];
        if getrandom::fill(&mut nonce).is_err() {
            return false;
        }
        let payload = format!("probe:{}", hex::encode(nonce));
        if client
            .execute("SELECT pg_catalog.pg_notify($1, $2)", &[&CHANNEL, &payload])
            .await
            .is_err()
        {
            return false;
        }
        let deadline = tokio::time::Instant::now() + PROBE_WAIT;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(p)) if p == payload => return true,
                Ok(Some(_)) => continue,
                _ => return false,
            }
        }
    }

    /// Serves one connection until it fails.
    async fn serve(&mut self, conn: Conn, feed: &PgFeed, probed: Option<bool>) {
        let (client, mut rx, task) = conn;
        let notified = match probed {
            Some(p) => p,
            None => self.notifications && Self::probe(&client, &mut rx).await,
        };
        {
            let mut st = feed.status.lock().unwrap_or_else(|p| p.into_inner());
            st.connected = true;
            st.notifications = notified;
        }
        loop {
            let more = match self.poll(&client, feed).await {
                Ok(more) => more,
                Err(_) => break,
            };
            if more {
                continue;
            }
            if notified {
                match tokio::time::timeout(self.interval, rx.recv()).await {
                    Ok(None) => break,
                    // Several notifications may be queued: one poll reads them all.
                    Ok(Some(_)) => while rx.try_recv().is_ok() {},
                    Err(_) => {}
                }
            } else {
                tokio::time::sleep(self.interval).await;
            }
        }
        task.abort();
        feed.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .connected = false;
    }

    async fn run(mut self, first: Conn, probed: bool, feed: Arc<PgFeed>) {
        self.serve(first, &feed, Some(probed)).await;
        let mut down_since = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            tokio::time::sleep(backoff).await;
            match connect(&self.cfg).await {
                Ok(conn) => {
                    feed.status
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .reconnects += 1;
                    if down_since.elapsed() > TRUST_GAP {
                        self.seen.clear();
                        feed.bus.publish(&Event::Resync);
                    }
                    backoff = Duration::from_millis(100);
                    self.serve(conn, &feed, None).await;
                    down_since = Instant::now();
                }
                Err(_) => backoff = (backoff * 2).min(self.interval.max(Duration::from_secs(5))),
            }
        }
    }
}

/// Connects the listener and reads the starting horizon before returning, so nothing a
/// cache of this process can hold predates what the listener will see.
pub(crate) async fn start(
    cfg: Config,
    notifications: bool,
    interval: Duration,
) -> Result<FeedTask, super::StoreError> {
    let mut cfg = cfg;
    // Operators (and the tests) can tell the listener's connection apart.
    cfg.application_name("tenantguard-events");
    let mut conn = connect(&cfg).await.map_err(super::backend)?;
    let horizon = Listener::horizon_now(&conn.0)
        .await
        .map_err(super::backend)?;
    // Probed before the store is handed out, so its status is true from the start.
    let probed = notifications && Listener::probe(&conn.0, &mut conn.1).await;
    let feed = Arc::new(PgFeed {
        bus: Arc::new(EventBus::new()),
        status: Mutex::new(FeedStatus {
            connected: true,
            notifications: probed,
            ..FeedStatus::default()
        }),
    });
    let listener = Listener {
        cfg,
        notifications,
        interval,
        horizon,
        seen: HashMap::new(),
        polls: 0,
    };
    let task = tokio::spawn(listener.run(conn, probed, feed.clone()));
    Ok(FeedTask { feed, task })
}
