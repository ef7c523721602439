//! [`Bound::proxy`]: a raw vendor call on the connection's credentials, to the connector's
//! declared hosts only, through the same session as every unified call. The answer's body is
//! passed on byte for byte (binary bodies and big numbers intact).

use connector::{HttpMethod, RequestBody};

use crate::OpError;
use crate::bound::Bound;

/// A raw vendor call.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub method: HttpMethod,
    /// The vendor path (joined to the connector's base URL) with its query string.
    pub path_and_query: String,
    /// Request headers passed on (the caller chooses which).
    pub headers: Vec<(String, String)>,
    /// The body, passed on as is.
    pub body: Vec<u8>,
}

/// The vendor's answer to a proxied call.
#[derive(Debug, Clone)]
pub struct ProxyAnswer {
    pub status: u16,
    /// The vendor's `Content-Type`, when it gave one.
    pub content_type: Option<String>,
    /// The body as the vendor sent it.
    pub body: Vec<u8>,
}

impl Bound {
    /// Sends `request` to the vendor on this connection's credentials.
    ///
    /// # Errors
    /// `Invalid` (field `path`) when the path leaves the connector's hosts; transport failures
    /// as [`OpError`]. A vendor error answer is a successful proxy call.
    pub async fn proxy(&self, request: ProxyRequest) -> Result<ProxyAnswer, OpError> {
        let body = if request.body.is_empty() {
            RequestBody::None
        } else {
            RequestBody::Raw(request.body)
        };
        let plan = self
            .connector()
            .plan_proxy(
                request.method,
                &request.path_and_query,
                &self.account(),
                request.headers,
                body,
            )
            .map_err(|error| OpError::invalid("path", error.to_string()))?;
        let answer = self.send(plan, false).await?;
        let response = answer.response;
        let body = match response.raw_body() {
            Some(bytes) => bytes.to_vec(),
            // Every proxied answer keeps its bytes; a body-less answer has none.
            None => Vec::new(),
        };
        Ok(ProxyAnswer {
            status: response.status,
            content_type: response.header("content-type").map(str::to_owned),
            body,
        })
    }
}
