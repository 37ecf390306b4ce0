//! HTTP routes: one `#[OpenApi]` impl per path, each handler returning
//! `Result<Success, Refusal<Statuses>>` so that its statuses are where it is written.

mod api;
mod auth;
mod create;
mod envelope;
mod errors;
mod etag;
mod health;
mod links;
mod models;
mod openapi_doc;
mod params;
mod public;
mod read;
mod revisions;
mod session;
mod sessions;
mod share_code;
mod sharing;
mod stored;
mod tags;
mod team;
mod upload;

pub use api::{Api, api, api_service, openapi_json, swagger_ui_csp, swagger_ui_html};
pub use auth::key_in;
pub use envelope::envelope;
pub use models::ShareSummary;
pub use openapi_doc::{EXAMPLE_ID, EXAMPLE_ID_KEY};
pub use read::{ReadRequest, accepts_gzip, read};
pub use sharing::summary;

pub(crate) use tags::ApiTags;
