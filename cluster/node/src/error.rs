//! Client-visible errors and whether their outcome is definite.
//!
//! `definite: true` means the operation did not and will not take effect
//! (rejected before it entered the Raft log, a bad request, a not-leader
//! answer, or a pure read, which has no effect either way). `definite: false`
//! means the outcome is unknown: the command may still be committed later.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer of the client API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub definite: bool,
    /// For `not_leader`: the leader hint.
    pub leader: Option<(Option<u64>, Option<String>)>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>, definite: bool) -> ApiError {
        ApiError { status, code, message: message.into(), definite, leader: None }
    }

    /// 400: malformed request.
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(400, "bad_request", msg, true)
    }

    /// 413: body over the size limit.
    pub fn too_large(msg: impl Into<String>) -> ApiError {
        ApiError::new(413, "too_large", msg, true)
    }

    /// 404: no such route.
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", msg, true)
    }

    /// 503: this node is not the leader; retry at `leader`.
    pub fn not_leader(leader: Option<u64>, leader_addr: Option<String>) -> ApiError {
        let mut e = ApiError::new(503, "not_leader", "this node is not the leader", true);
        e.leader = Some((leader, leader_addr));
        e
    }

    /// 503: raft refused the proposal before it entered the log.
    pub fn dropped(msg: impl Into<String>) -> ApiError {
        ApiError::new(503, "proposal_dropped", msg, true)
    }

    /// 503: too many queued requests; nothing was proposed.
    pub fn overloaded() -> ApiError {
        ApiError::new(503, "overloaded", "request queue full", true)
    }

    /// 503: the node is not running raft any more; nothing was proposed.
    pub fn unavailable(msg: impl Into<String>) -> ApiError {
        ApiError::new(503, "unavailable", msg, true)
    }

    /// 504: proposed, but no result within the request timeout (unknown).
    pub fn timeout() -> ApiError {
        ApiError::new(504, "timeout", "no result within the request timeout", false)
    }

    /// 504: proposed, then this node lost leadership before applying (unknown).
    pub fn leadership_lost() -> ApiError {
        ApiError::new(504, "leadership_lost", "leadership lost before the command was applied", false)
    }

    /// 504: proposed, then the node began shutting down (unknown).
    pub fn shutting_down() -> ApiError {
        ApiError::new(504, "shutting_down", "node shutting down", false)
    }

    /// 500: a storage failure (unknown).
    pub fn internal(msg: impl Into<String>) -> ApiError {
        ApiError::new(500, "internal", msg, false)
    }

    /// The same error for an operation with no effect (a read): always definite.
    pub fn for_read(mut self) -> ApiError {
        self.definite = true;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.code, "message": self.message, "definite": self.definite});
        if let Some((leader, addr)) = &self.leader {
            body["leader"] = json!(leader);
            body["leader_addr"] = json!(addr);
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(body)).into_response()
    }
}
