//! Sessions: what a login opens, refresh tokens that rotate, and revocation that
//! reaches every server node within seconds.
//!
//! A login opens a session (a row of `sessions`) and hands out a short-lived access
//! token (HS256, `token_ttl_seconds`) that names the session (`sid`), and a refresh
//! token: 256 random bits of which only the SHA-256 is stored (`refresh_tokens`).
//! `POST /auth/refresh` spends the refresh token and hands out a new pair; a refresh
//! token that was spent already and is presented again means that somebody else holds
//! a copy, so the whole session is revoked (every token descended from that login).
//! A session ends after `session_idle_minutes` without a refresh, and at most
//! `session_max_hours` after the login; an access token never outlives its session's
//! deadline (its `exp` is capped), so an ended session needs no revocation.
//!
//! # Revocation within 5 seconds, without a query per request
//!
//! A revoked session (logout, a spent refresh token presented again, password changed
//! or reset, user deactivated or demoted) must make its access tokens refused on every
//! node within 5 s. Redemption is the hot path and is benchmarked, so the
//! [`Caller`](crate::auth::Caller) extractor does not read the database: each node runs
//! [`watch`], which every second reads the ids of the sessions revoked within the last
//! access-token lifetime (plus a margin: older revocations can have no live access
//! token left) into an in-memory set, [`Revocations`]. A request whose session is in
//! the set gets 401 `session_revoked`. A node also notes at once the sessions it
//! revokes itself.
//!
//! When the node's view is older than [`STALE_AFTER`] (the database did not answer
//! the last polls), the extractor reads the session's row for each request instead,
//! and answers 503 when the database cannot be read: a node never serves a token on a
//! view old enough to miss a revocation. Worst case: a revocation committed just after
//! a poll read is seen by the next poll (1 s later), or, if polls fail, after at most
//! [`STALE_AFTER`] (3 s) by the per-request check.
//!
//! Errors ([`SessionError`], worded at the HTTP edge in `api/auth.rs`): an unknown
//! refresh token, a revoked session, a session past its limits. No token ever
//! appears in an error: only its hash is looked up. Refresh tokens are one-time
//! tokens ([`crate::one_time`]) whose lifetime is their session's.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::{DbError, DbPool};
use crate::one_time::{SecretToken, hash_token};
use crate::organizations::{Organization, User};
use crate::schema::{organizations, refresh_tokens, sessions, users};

/// How often each node reads the sessions revoked recently.
pub const POLL_EVERY: StdDuration = StdDuration::from_secs(1);
/// A view older than this is not trusted: the session's row is read per request.
pub const STALE_AFTER: StdDuration = StdDuration::from_secs(3);
/// How long a node keeps a revocation it made itself, whatever the polls say (a poll
/// may have read the database just before that revocation committed).
const LOCAL_NOTE_KEPT: StdDuration = StdDuration::from_secs(10);

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Without a refresh, a session ends after this long.
    pub idle: Duration,
    /// A session ends this long after its login, refreshed or not.
    pub max: Duration,
}

impl SessionLimits {
    pub fn from_settings(settings: &crate::config::Settings) -> SessionLimits {
        SessionLimits {
            idle: Duration::minutes(settings.session_idle_minutes.max(1)),
            max: Duration::hours(settings.session_max_hours.max(1)),
        }
    }

    /// When a session opened at `created_at` and last refreshed at `refreshed_at`
    /// ends, unless refreshed again before.
    pub fn deadline(
        &self,
        created_at: DateTime<Utc>,
        refreshed_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        (refreshed_at + self.idle).min(created_at + self.max)
    }
}

/// Why a session was revoked (stored with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    Logout,
    RefreshReused,
    PasswordChanged,
    PasswordReset,
    Deactivated,
    RoleChanged,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::RefreshReused => "refresh_reused",
            RevokeReason::PasswordChanged => "password_changed",
            RevokeReason::PasswordReset => "password_reset",
            RevokeReason::Deactivated => "deactivated",
            RevokeReason::RoleChanged => "role_changed",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct Session {
    id: Uuid,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    last_refreshed_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

/// What a login or a refresh hands out: the session, its next refresh token, the
/// user as it is now (role and organisation for the access token), and the session's
/// deadline (no access token lives longer).
#[derive(Debug)]
pub struct Grant {
    pub session_id: Uuid,
    pub refresh_token: SecretToken,
    pub user: User,
    pub organization: Organization,
    pub deadline: DateTime<Utc>,
}

/// Why a refresh token, or an access token's session, is refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No such refresh token.
    #[error("unknown refresh token")]
    UnknownRefreshToken,
    /// The session was ended (logout, password changed, deactivated, a spent refresh
    /// token presented again…). `ended`: the session this very refusal revoked, for
    /// the node to note at once.
    #[error("the session is revoked")]
    Revoked { ended: Option<Uuid> },
    /// Idle too long, or too old.
    #[error("the session has expired")]
    Expired,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SessionError {
    fn from(err: diesel::result::Error) -> Self {
        SessionError::Db(err.into())
    }
}

async fn new_refresh_token(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
) -> Result<SecretToken, DbError> {
    let token = SecretToken::random();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(token.hash()),
            refresh_tokens::session_id.eq(session_id),
        ))
        .execute(conn)
        .await?;
    Ok(token)
}

/// Opens a session for `user` (whose credentials were checked): records the login
/// time, and the first refresh token. One transaction.
///
/// The password was checked outside it (argon2 takes a while), so the login first
/// takes the user's row on the condition that it is still the account that was
/// checked: active, same password hash, same role. A reset, a password change, a
/// deactivation or a demotion that committed in the meantime changed that row, and
/// one still running holds it until it commits (then its revocation, which comes after
/// its update, sees this session): either way no session outlives them. Refused as
/// `None`, which the edge answers like a wrong password.
pub async fn open(
    conn: &mut AsyncPgConnection,
    user: User,
    organization: Organization,
    limits: SessionLimits,
) -> Result<Option<Grant>, DbError> {
    conn.transaction::<_, DbError, _>(async move |conn| {
        let now = Utc::now();
        let Some(user) = diesel::update(
            users::table
                .find(user.id)
                .filter(users::active.eq(true))
                .filter(users::password_hash.eq(user.password_hash.clone()))
                .filter(users::role.eq(user.role.clone())),
        )
        .set(users::last_login_at.eq(now))
        .returning(User::as_returning())
        .get_result(conn)
        .await
        .optional()?
        else {
            return Ok(None);
        };
        let session_id = Uuid::now_v7();
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(session_id),
                sessions::user_id.eq(user.id),
                sessions::created_at.eq(now),
                sessions::last_refreshed_at.eq(now),
            ))
            .execute(conn)
            .await?;
        let refresh_token = new_refresh_token(conn, session_id).await?;
        Ok(Some(Grant {
            session_id,
            refresh_token,
            user,
            organization,
            deadline: limits.deadline(now, now),
        }))
    })
    .await
}

/// What a refresh came to, decided inside its transaction (a revocation must commit
/// even though the caller is refused).
enum Refreshed {
    Granted(Box<Grant>),
    Refused(SessionError),
}

/// Spends `presented` and hands out the next refresh token of its session. A spent
/// token presented again revokes the session ([`SessionError::Revoked`], naming the
/// session revoked on the way, to note it).
pub async fn refresh(
    conn: &mut AsyncPgConnection,
    presented: &str,
    limits: SessionLimits,
) -> Result<Grant, SessionError> {
    let presented = hash_token(presented);
    let outcome = conn
        .transaction::<_, SessionError, _>(async move |conn| {
            let Some((used_at, session_id)) = refresh_tokens::table
                .find(&presented)
                .select((refresh_tokens::used_at, refresh_tokens::session_id))
                .for_update()
                .first::<(Option<DateTime<Utc>>, Uuid)>(conn)
                .await
                .optional()?
            else {
                return Err(SessionError::UnknownRefreshToken);
            };
            let session: Session = sessions::table
                .find(session_id)
                .select(Session::as_select())
                .for_update()
                .first(conn)
                .await?;
            if session.revoked_at.is_some() {
                return Ok(Refreshed::Refused(SessionError::Revoked { ended: None }));
            }
            if used_at.is_some() {
                revoke_rows(conn, &[session.id], RevokeReason::RefreshReused).await?;
                return Ok(Refreshed::Refused(SessionError::Revoked {
                    ended: Some(session.id),
                }));
            }
            let now = Utc::now();
            if limits.deadline(session.created_at, session.last_refreshed_at) <= now {
                return Ok(Refreshed::Refused(SessionError::Expired));
            }
            let (user, organization): (User, Organization) = users::table
                .inner_join(organizations::table)
                .filter(users::id.eq(session.user_id))
                .select((User::as_select(), Organization::as_select()))
                .first(conn)
                .await?;
            if !user.active {
                revoke_rows(conn, &[session.id], RevokeReason::Deactivated).await?;
                return Ok(Refreshed::Refused(SessionError::Revoked {
                    ended: Some(session.id),
                }));
            }
            diesel::update(refresh_tokens::table.find(&presented))
                .set(refresh_tokens::used_at.eq(now))
                .execute(conn)
                .await?;
            diesel::update(sessions::table.find(session.id))
                .set(sessions::last_refreshed_at.eq(now))
                .execute(conn)
                .await?;
            let refresh_token = new_refresh_token(conn, session.id).await?;
            Ok(Refreshed::Granted(Box::new(Grant {
                session_id: session.id,
                refresh_token,
                user,
                organization,
                deadline: limits.deadline(session.created_at, now),
            })))
        })
        .await?;
    match outcome {
        Refreshed::Granted(grant) => Ok(*grant),
        Refreshed::Refused(refusal) => Err(refusal),
    }
}

/// Ends the session of `presented` (spent or not): logging out twice, or with a token
/// that is unknown, changes nothing. Returns the session revoked, if any.
pub async fn logout(
    conn: &mut AsyncPgConnection,
    presented: &str,
) -> Result<Option<Uuid>, DbError> {
    let session_id: Option<Uuid> = refresh_tokens::table
        .find(hash_token(presented))
        .select(refresh_tokens::session_id)
        .first(conn)
        .await
        .optional()?;
    let Some(session_id) = session_id else {
        return Ok(None);
    };
    let ended = revoke_rows(conn, &[session_id], RevokeReason::Logout).await?;
    Ok(<[Uuid]>::first(&ended).copied())
}

/// Revokes the given sessions that are still live; returns those it revoked.
async fn revoke_rows(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    reason: RevokeReason,
) -> Result<Vec<Uuid>, DbError> {
    Ok(diesel::update(
        sessions::table
            .filter(sessions::id.eq_any(ids))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(diesel::dsl::now),
        sessions::revoked_reason.eq(reason.as_str()),
    ))
    .returning(sessions::id)
    .get_results(conn)
    .await?)
}

/// Revokes every live session of `user_id` but `keep`, in the caller's transaction.
/// Returns the sessions revoked (to note them on this node at once).
pub async fn revoke_user_sessions(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
    reason: RevokeReason,
) -> Result<Vec<Uuid>, DbError> {
    let mut query = diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .into_boxed();
    if let Some(keep) = keep {
        query = query.filter(sessions::id.ne(keep));
    }
    Ok(query
        .set((
            sessions::revoked_at.eq(diesel::dsl::now),
            sessions::revoked_reason.eq(reason.as_str()),
        ))
        .returning(sessions::id)
        .get_results(conn)
        .await?)
}

/// Whether the session `id` is revoked (or unknown), read from the database.
pub async fn is_revoked(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool, DbError> {
    let found: Option<Option<DateTime<Utc>>> = sessions::table
        .find(id)
        .select(sessions::revoked_at)
        .first(conn)
        .await
        .optional()?;
    Ok(!matches!(found, Some(None)))
}

/// What a node knows of the sessions revoked recently.
#[derive(Default)]
pub struct Revocations {
    view: RwLock<View>,
}

#[derive(Default)]
struct View {
    /// Sessions revoked within the window, as last read, plus this node's own notes.
    revoked: HashSet<Uuid>,
    /// When the database was last read successfully.
    synced_at: Option<Instant>,
    /// Revocations made by this node, kept for a while across polls.
    notes: Vec<(Uuid, Instant)>,
}

/// What a node's view says of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Live,
    Revoked,
    /// The view is too old to say: read the database.
    Unknown,
}

impl Revocations {
    pub fn new() -> Arc<Revocations> {
        Arc::new(Revocations::default())
    }

    /// Notes sessions this node has just revoked (committed), before the next poll.
    pub fn note(&self, ids: &[Uuid]) {
        if ids.is_empty() {
            return;
        }
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for id in ids {
            view.revoked.insert(*id);
            view.notes.push((*id, now));
        }
    }

    /// Replaces the view with what the database said at `read_at`.
    fn replace(&self, mut revoked: HashSet<Uuid>, read_at: Instant) {
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        view.notes.retain(|(_, at)| at.elapsed() < LOCAL_NOTE_KEPT);
        revoked.extend(view.notes.iter().map(|(id, _)| *id));
        view.revoked = revoked;
        view.synced_at = Some(read_at);
    }

    pub fn verdict(&self, session: Uuid) -> Verdict {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        if view.revoked.contains(&session) {
            return Verdict::Revoked;
        }
        match view.synced_at {
            Some(at) if at.elapsed() < STALE_AFTER => Verdict::Live,
            _ => Verdict::Unknown,
        }
    }
}

#[derive(QueryableByName)]
struct RevokedId {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// The sessions revoked within the last `window_seconds` (by the database's clock).
async fn recently_revoked(pool: &DbPool, window_seconds: f64) -> Result<HashSet<Uuid>, DbError> {
    let mut conn = pool.get().await?;
    let rows: Vec<RevokedId> = diesel::sql_query(
        "SELECT id FROM sessions WHERE revoked_at > now() - make_interval(secs => $1)",
    )
    .bind::<diesel::sql_types::Double, _>(window_seconds)
    .load(&mut conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Keeps `revocations` up to date, every [`POLL_EVERY`], until the task is aborted.
/// `token_ttl_seconds`: no access token lives longer, so older revocations are left
/// out of the view.
pub async fn watch(pool: DbPool, revocations: Arc<Revocations>, token_ttl_seconds: u64) {
    // Access tokens are accepted 5 s past their expiry (leeway); a minute of margin.
    let window = token_ttl_seconds as f64 + 60.0;
    let mut ticker = tokio::time::interval(POLL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        let started = Instant::now();
        match recently_revoked(&pool, window).await {
            Ok(revoked) => {
                if failing {
                    tracing::info!("revoked sessions are read again");
                    failing = false;
                }
                revocations.replace(revoked, started);
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(error = %error, "revoked sessions could not be read: tokens are checked against the database until they can");
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_the_nearer_of_the_idle_and_absolute_limits() {
        let limits = SessionLimits {
            idle: Duration::minutes(120),
            max: Duration::hours(12),
        };
        let login = Utc::now();
        assert_eq!(
            limits.deadline(login, login),
            login + Duration::minutes(120)
        );
        let late = login + Duration::hours(11);
        assert_eq!(limits.deadline(login, late), login + Duration::hours(12));
    }

    #[test]
    fn a_view_says_revoked_live_or_unknown_when_stale() {
        let revocations = Revocations::new();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        // Never read: unknown, unless noted by this node.
        assert_eq!(revocations.verdict(a), Verdict::Unknown);
        revocations.note(&[b]);
        assert_eq!(revocations.verdict(b), Verdict::Revoked);
        revocations.replace(HashSet::from([a]), Instant::now());
        assert_eq!(revocations.verdict(a), Verdict::Revoked);
        // A poll that read before this node's own revocation does not forget it.
        assert_eq!(revocations.verdict(b), Verdict::Revoked);
        assert_eq!(revocations.verdict(Uuid::new_v4()), Verdict::Live);
        revocations.replace(HashSet::new(), Instant::now() - STALE_AFTER);
        assert_eq!(revocations.verdict(Uuid::new_v4()), Verdict::Unknown);
    }
}
