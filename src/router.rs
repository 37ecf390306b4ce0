//! The HTTP surface as one table: every route's path with the methods it takes, kept beside the
//! endpoint that answers them. The router is built from the table, and a 405's `Allow` is read
//! from it, so the two cannot disagree.

use std::{collections::HashMap, sync::Arc};

use poem::{EndpointExt, IntoEndpoint, Response, Route, RouteMethod, http::Method};
use poem_openapi::{OpenApi, OpenApiService};

/// Paths (poem's patterns: `:name` is a parameter) and the methods each takes.
#[derive(Debug, Clone, Default)]
pub struct RouteTable(Vec<(String, Vec<Method>)>);

impl RouteTable {
    /// Every route, as `(path, methods)`; `HEAD` wherever `GET` is (poem answers it so).
    pub fn routes(&self) -> &[(String, Vec<Method>)] {
        &self.0
    }

    /// The methods of the most specific route `path` matches (see [`RouteTable::route`]).
    pub fn allowed(&self, path: &str) -> Option<&[Method]> {
        self.route(path).map(|(_, methods)| methods.as_slice())
    }

    /// The most specific route `path` matches (a literal segment beats a parameter:
    /// `/api/sessions/create` is not `/api/sessions/{id}`), with its methods; `None` if none.
    pub fn route(&self, path: &str) -> Option<&(String, Vec<Method>)> {
        let parts = segments(path);
        self.0
            .iter()
            .filter(|(pattern, _)| {
                let pattern = segments(pattern);
                pattern.len() == parts.len()
                    && pattern.iter().zip(&parts).all(|(t, p)| t.starts_with(':') || t == p)
            })
            .min_by_key(|(pattern, _)| {
                segments(pattern).iter().filter(|t| t.starts_with(':')).count()
            })
    }

    fn add(&mut self, path: &str, mut methods: Vec<Method>) {
        if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
            methods.push(Method::HEAD);
        }
        methods.sort_by_key(order);
        self.0.push((path.to_owned(), methods));
    }
}

/// Methods in the order `Allow` lists them.
fn order(method: &Method) -> usize {
    [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE]
        .iter()
        .position(|m| m == method)
        .unwrap_or(usize::MAX)
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/').split('/').collect()
}

/// Builds the router and its table together.
#[derive(Default)]
pub struct Router {
    route: Route,
    table: RouteTable,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// A route answering `GET` (and `HEAD`) with `endpoint`.
    pub fn get<E>(self, path: &str, endpoint: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.at(path, [(Method::GET, endpoint.into_endpoint().map_to_response().boxed())])
    }

    /// A route answering each method with its endpoint.
    pub fn at(
        mut self,
        path: &str,
        methods: impl IntoIterator<Item = (Method, poem::endpoint::BoxEndpoint<'static, Response>)>,
    ) -> Self {
        let (route_method, methods) = methods.into_iter().fold(
            (RouteMethod::new(), Vec::new()),
            |(route_method, mut methods), (method, endpoint)| {
                methods.push(method.clone());
                (route_method.method(method, endpoint), methods)
            },
        );
        self.table.add(path, methods);
        self.route = self.route.at(path, route_method);
        self
    }

    /// Every operation of an OpenAPI service, with the paths and methods its own router is
    /// made of (poem-openapi's `add_routes`).
    pub fn api<T: OpenApi + 'static>(mut self, api: T, service: OpenApiService<T, ()>) -> Self {
        let mut routes = HashMap::new();
        api.add_routes(&mut routes);
        let mut paths: Vec<_> = routes.into_iter().collect();
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, methods) in paths {
            self.table.add(&path, methods.into_keys().collect());
        }
        self.route = self.route.nest("/", service);
        self
    }

    pub fn build(self) -> (Route, Arc<RouteTable>) {
        (self.route, Arc::new(self.table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_route_names_the_methods() {
        let mut table = RouteTable::default();
        table.add(
            "/api/sessions/:id",
            vec![Method::GET, Method::PUT, Method::PATCH, Method::DELETE],
        );
        table.add("/api/sessions/create", vec![Method::POST]);
        table.add("/api/sessions", vec![Method::POST, Method::GET]);
        assert_eq!(table.allowed("/api/sessions/create"), Some(&[Method::POST][..]));
        assert_eq!(
            table.allowed("/api/sessions/abc"),
            Some(&[Method::GET, Method::HEAD, Method::PUT, Method::PATCH, Method::DELETE][..])
        );
        assert_eq!(
            table.allowed("/api/sessions"),
            Some(&[Method::GET, Method::HEAD, Method::POST][..])
        );
        assert_eq!(table.allowed("/nothing"), None);
    }
}
