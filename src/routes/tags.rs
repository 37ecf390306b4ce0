//! The groups Swagger UI shows the operations in.

use poem_openapi::Tags;

#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Share, import and read sessions.
    Sessions,
    /// Your own shares: list them, replace their sessions, change their options, delete them.
    Owner,
}
