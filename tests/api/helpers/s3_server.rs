//! The tests' S3 server: one given by `TEST_S3_ENDPOINT`, or s3s-fs in this process, made as
//! strict as S3 where the service relies on it.

use std::{net::SocketAddr, sync::OnceLock};

use session_share::storage::S3Options;
use tokio::net::TcpListener;

/// Where the tests' S3 server is.
#[derive(Clone, Debug)]
pub struct S3Target {
    pub endpoint: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

impl S3Target {
    /// `TEST_S3_ENDPOINT` (with `TEST_S3_BUCKET`, `TEST_S3_ACCESS_KEY_ID`,
    /// `TEST_S3_SECRET_ACCESS_KEY`, `TEST_S3_REGION`) or an s3s-fs server in this process.
    pub fn get() -> &'static S3Target {
        static TARGET: OnceLock<S3Target> = OnceLock::new();
        TARGET.get_or_init(|| match std::env::var("TEST_S3_ENDPOINT") {
            Ok(endpoint) => {
                let var = |name: &str, default: &str| {
                    std::env::var(name).unwrap_or_else(|_| default.to_owned())
                };
                S3Target {
                    endpoint,
                    bucket: var("TEST_S3_BUCKET", "session-share-test"),
                    access_key_id: var("TEST_S3_ACCESS_KEY_ID", "test"),
                    secret_access_key: var("TEST_S3_SECRET_ACCESS_KEY", "test"),
                    region: var("TEST_S3_REGION", "us-east-1"),
                }
            }
            Err(_) => start_s3s_fs(),
        })
    }

    pub fn options(&self, endpoint: &str) -> S3Options {
        S3Options {
            endpoint: Some(endpoint.to_owned()),
            region: Some(self.region.clone()),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.secret_access_key.clone()),
            allow_http: Some(true),
        }
    }

    /// The environment the `session-share` binary needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

/// A real S3 protocol server (s3s over a temporary directory), on its own thread and runtime
/// so that it outlives each test's runtime.
fn start_s3s_fs() -> S3Target {
    let root = tempfile::tempdir().expect("temp dir").keep();
    let bucket = "session-share-test";
    std::fs::create_dir_all(root.join(bucket)).unwrap();
    let (access, secret) = ("test-access-key", "test-secret-key");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let fs = AtomicConditionalPuts {
                fs: s3s_fs::FileSystem::new(&root).unwrap(),
                root: root.clone(),
                puts: (0..256).map(|_| tokio::sync::RwLock::new(())).collect(),
            };
            let mut builder = s3s::service::S3ServiceBuilder::new(fs);
            builder.set_auth(s3s::auth::SimpleAuth::from_single(access, secret));
            let service = builder.build();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let http =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                socket.set_nodelay(true).unwrap();
                let conn = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
    });
    let address: SocketAddr = rx.recv().unwrap();
    S3Target {
        endpoint: format!("http://{address}"),
        bucket: bucket.into(),
        access_key_id: access.into(),
        secret_access_key: secret.into(),
        region: "us-east-1".into(),
    }
}

/// s3s-fs is not atomic where S3 and MinIO are, and the service's guarantees rest on them
/// being so: it checks `If-Match` / `If-None-Match` and then writes, in two steps (two
/// conditional PUTs can both pass their check); and a GET opens the file, then reads its ETag
/// apart (a PUT between the two makes it answer the old bytes under the new ETag, and a change
/// made over that read loses another). Each key's PUTs go one at a time, and its GETs and
/// HEADs between them, which makes the in-process server as strict as S3 (other keys proceed
/// in parallel). Only the operations object_store uses are forwarded.
struct AtomicConditionalPuts {
    fs: s3s_fs::FileSystem,
    /// Where s3s-fs keeps the buckets.
    root: std::path::PathBuf,
    puts: Vec<tokio::sync::RwLock<()>>,
}

impl AtomicConditionalPuts {
    fn lock_for(&self, key: &str) -> &tokio::sync::RwLock<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        &self.puts[hasher.finish() as usize % self.puts.len()]
    }
}

#[async_trait::async_trait]
impl s3s::S3 for AtomicConditionalPuts {
    async fn put_object(
        &self,
        req: s3s::S3Request<s3s::dto::PutObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::PutObjectOutput>> {
        let _one_at_a_time = self.lock_for(&req.input.key).write().await;
        self.fs.put_object(req).await
    }
    async fn get_object(
        &self,
        req: s3s::S3Request<s3s::dto::GetObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::GetObjectOutput>> {
        let _between_puts = self.lock_for(&req.input.key).read().await;
        self.fs.get_object(req).await
    }
    async fn head_object(
        &self,
        req: s3s::S3Request<s3s::dto::HeadObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::HeadObjectOutput>> {
        let _between_puts = self.lock_for(&req.input.key).read().await;
        self.fs.head_object(req).await
    }
    async fn delete_object(
        &self,
        req: s3s::S3Request<s3s::dto::DeleteObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }
    async fn delete_objects(
        &self,
        req: s3s::S3Request<s3s::dto::DeleteObjectsInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }
    async fn list_objects_v2(
        &self,
        req: s3s::S3Request<s3s::dto::ListObjectsV2Input>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListObjectsV2Output>> {
        // s3s-fs lists no ETags; S3 lists each object's (the MD5 of what a PUT sent).
        use md5::Digest;
        let bucket = req.input.bucket.clone();
        let mut listed = self.fs.list_objects_v2(req).await?;
        for object in listed.output.contents.iter_mut().flatten() {
            let Some(key) = object.key.as_deref().filter(|_| object.e_tag.is_none()) else {
                continue;
            };
            if let Ok(bytes) = tokio::fs::read(self.root.join(&bucket).join(key)).await {
                let md5: String =
                    md5::Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
                object.e_tag = Some(s3s::dto::ETag::Strong(md5));
            }
        }
        Ok(listed)
    }
}
