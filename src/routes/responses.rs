//! What the response enums of the routes share.

/// Builds one variant of a route's response enum from an error. `Unavailable` and
/// `TooManyRequests` also carry `Retry-After`.
macro_rules! error_variant {
    ($ty:ident, Unavailable, $body:expr, $err:expr) => {
        $ty::Unavailable($body, $err.retry_after.unwrap_or($crate::error::RETRY_AFTER_SECS))
    };
    ($ty:ident, TooManyRequests, $body:expr, $err:expr) => {
        $ty::TooManyRequests($body, $err.retry_after.unwrap_or(1))
    };
    ($ty:ident, $variant:ident, $body:expr, $err:expr) => {
        $ty::$variant($body)
    };
}

/// Implements `From<ApiError>` and the bad-request handler for a route's response enum, given
/// the error variants it documents (plus `Internal`, which every enum has).
macro_rules! route_errors {
    ($ty:ident: $($variant:ident),+ $(,)?) => {
        impl From<$crate::error::ApiError> for $ty {
            fn from(err: $crate::error::ApiError) -> Self {
                use $crate::error::ErrorStatus;
                let body = poem_openapi::payload::Json(err.body.clone());
                match err.status {
                    $( ErrorStatus::$variant => $crate::routes::responses::error_variant!($ty, $variant, body, err), )+
                    #[allow(unreachable_patterns)]
                    _ => {
                        let err = $crate::error::ApiError::internal(format!(
                            "{} cannot answer {err}", stringify!($ty)));
                        $ty::Internal(poem_openapi::payload::Json(err.body))
                    }
                }
            }
        }

        impl $ty {
            fn bad_request(err: poem::Error) -> Self {
                $crate::error::ApiError::from_request_error(err).into()
            }
        }
    };
}

/// Declares a route's response enum: the variants given, then its error variants (each
/// `Name` of [`ErrorStatus`](crate::error::ErrorStatus) with the doc comment for this route,
/// carrying an [`ErrorBody`](crate::error::ErrorBody)), then the ones every route shares (429
/// and 503 with `Retry-After`, 500), with `From<ApiError>` mapping each status to its variant.
///
/// `@stored_session` first adds the 200 that answers a stored session as uploaded, with the
/// share's metadata in `X-Session-*` headers (see `payload::metadata_headers`) and its `ETag`.
macro_rules! api_response {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident {
            @stored_session $(#[$ok:meta])*;
            $($variants:tt)*
        }
        errors { $($errors:tt)* }
    ) => {
        $crate::routes::responses::api_response! {
            $(#[$meta])*
            pub enum $ty {
                $(#[$ok])*
                #[oai(
                    status = 200,
                    header(name = "X-Session-Owner", ty = "String", description = "The share's author."),
                    header(name = "X-Session-Title", ty = "String", description = "Percent-encoded UTF-8."),
                    header(name = "X-Session-Description", ty = "Option<String>", description = "Percent-encoded UTF-8; absent when none."),
                    header(name = "X-Session-Tags", ty = "Option<String>", description = "Comma-separated, each percent-encoded; absent when none."),
                    header(name = "X-Session-Public", ty = "bool", description = "`false` for a private share."),
                    header(name = "X-Session-Created-At", ty = "String", description = "RFC 3339."),
                    header(name = "X-Session-Expires-At", ty = "Option<String>", description = "RFC 3339; absent when the share does not expire."),
                    header(name = "X-Session-Message-Count", ty = "u64", description = "Messages in the session."),
                    header(name = "Content-Encoding", ty = "Option<String>", description = "`gzip` when the request's `Accept-Encoding` allows it (the document as stored, decoding to the uploaded bytes; the `ETag` is then weak); absent otherwise, and the body is the uploaded bytes."),
                    header(name = "Vary", ty = "String", description = "`Accept-Encoding`.")
                )]
                Ok($crate::routes::payload::StoredSession, #[oai(header = "ETag")] Option<String>),
                $($variants)*
            }
            errors { $($errors)* }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $ty:ident {
            $($variants:tt)*
        }
        errors { $( $(#[$doc:meta])* $error:ident ),+ $(,)? }
    ) => {
        $crate::routes::responses::api_response!(@munch
            [$(#[$meta])*] $ty [$($variants)*] [$($error)+] $( $(#[$doc])* $error, )+
        );
    };
    // One error variant at a time: its status comes from its name (`@status`), then it joins
    // the variants done (`@push`).
    (@munch $m:tt $ty:ident $done:tt $errs:tt $(#[$doc:meta])* $error:ident, $($rest:tt)*) => {
        $crate::routes::responses::api_response!(
            @status $error [$m $ty $done $errs [$(#[$doc])*] $($rest)*]
        );
    };
    (@push $code:literal $error:ident [$m:tt $ty:ident [$($done:tt)*] $errs:tt [$($doc:tt)*] $($rest:tt)*]) => {
        $crate::routes::responses::api_response!(@munch $m $ty [
            $($done)*
            $($doc)*
            #[oai(status = $code)]
            $error(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] $errs $($rest)*);
    };
    (@munch [$(#[$meta:meta])*] $ty:ident [$($done:tt)*] [$($error:ident)+]) => {
        $(#[$meta])*
        #[derive(poem_openapi::ApiResponse)]
        #[oai(bad_request_handler = "Self::bad_request")]
        pub enum $ty {
            $($done)*
            /// `RATE_LIMITED`: over `--write-rate` (writes, per key) or `--read-rate` (reads, per
            /// key or client address). Retry after `Retry-After` seconds.
            #[oai(status = 429)]
            TooManyRequests(
                poem_openapi::payload::Json<$crate::error::ErrorBody>,
                #[oai(header = "Retry-After")] u32,
            ),
            /// `INTERNAL_ERROR`: a bug. Nothing internal is answered; the log has it.
            #[oai(status = 500)]
            Internal(poem_openapi::payload::Json<$crate::error::ErrorBody>),
            /// `STORAGE_UNAVAILABLE` or `AUTH_UNAVAILABLE`: storage or the `--auth-url` key
            /// service is unreachable; `SERVER_BUSY`: too many uploads in flight. Nothing was
            /// changed. Retry after `Retry-After` seconds.
            #[oai(status = 503)]
            Unavailable(
                poem_openapi::payload::Json<$crate::error::ErrorBody>,
                #[oai(header = "Retry-After")] u32,
            ),
        }
        $crate::routes::responses::route_errors!($ty: $($error,)+ TooManyRequests, Unavailable);
    };
    (@status BadRequest $args:tt) => { $crate::routes::responses::api_response!(@push 400 BadRequest $args); };
    (@status Unauthorized $args:tt) => { $crate::routes::responses::api_response!(@push 401 Unauthorized $args); };
    (@status Forbidden $args:tt) => { $crate::routes::responses::api_response!(@push 403 Forbidden $args); };
    (@status NotFound $args:tt) => { $crate::routes::responses::api_response!(@push 404 NotFound $args); };
    (@status Conflict $args:tt) => { $crate::routes::responses::api_response!(@push 409 Conflict $args); };
    (@status Gone $args:tt) => { $crate::routes::responses::api_response!(@push 410 Gone $args); };
    (@status PayloadTooLarge $args:tt) => { $crate::routes::responses::api_response!(@push 413 PayloadTooLarge $args); };
    (@status UnsupportedMediaType $args:tt) => { $crate::routes::responses::api_response!(@push 415 UnsupportedMediaType $args); };
}

/// Runs a route's body; an error becomes the route's documented variant for its status.
pub(crate) async fn respond<R: From<crate::error::ApiError>>(
    body: impl std::future::Future<Output = Result<R, crate::error::ApiError>>,
) -> R {
    body.await.unwrap_or_else(R::from)
}

pub(crate) use {api_response, error_variant, route_errors};
