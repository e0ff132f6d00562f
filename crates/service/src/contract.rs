//! The contract's machinery: [`operations!`] turns the one list of operations in `api.rs` into
//! the table both adapters register from ([`OPERATIONS`](crate::api::OPERATIONS)), the one
//! dispatcher they call ([`call`](crate::api::call)), and the TypeScript table the UI's client
//! uses (appended to `ui/src/bindings.ts`). Adding an operation is one line there: the desktop
//! app's single `rpc` command and the server's routes come from the table, so no adapter can be
//! forgotten.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::ApiError;

/// How an operation is reached over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reads only; its request (if any) comes from the path's `{fields}`.
    Get,
    /// Its request is the JSON body.
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One operation of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The name the UI calls it by (and the desktop app's `rpc` command takes).
    pub name: &'static str,
    pub method: Method,
    /// The HTTP path, with `{field}` for request fields taken from it.
    pub path: &'static str,
    pub doc: &'static str,
}

/// The request of an operation from JSON (`null` for operations that take none).
pub(crate) fn request<T: DeserializeOwned>(operation: &str, value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("{operation}: {e}")))
}

/// The response of an operation as JSON.
pub(crate) fn response<T: Serialize>(value: T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::new(crate::api::ErrorKind::Internal, e.to_string()))
}

/// Declares the operations: for each, its doc comment, name, request type (`()` for none),
/// response type, HTTP method and path, and the service call that answers it.
macro_rules! operations {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident ($request:ty) -> $response:ty, $method:ident $path:literal => $call:expr;
    )*) => {
        /// Every operation of the contract, in declaration order.
        pub const OPERATIONS: &[$crate::contract::Operation] = &[$(
            $crate::contract::Operation {
                name: stringify!($name),
                method: $crate::contract::Method::$method,
                path: $path,
                doc: concat!($($doc, "\n"),*),
            },
        )*];

        /// Answers one operation by name with its request as JSON: what both adapters call.
        pub fn call(
            service: &$crate::Service,
            operation: &str,
            request: serde_json::Value,
        ) -> Result<serde_json::Value, ApiError> {
            match operation {
                $(stringify!($name) => {
                    let request: $request = $crate::contract::request(operation, request)?;
                    let answer: fn(&$crate::Service, $request) -> Result<$response, ApiError> = $call;
                    $crate::contract::response(answer(service, request)?)
                })*
                _ => Err(ApiError::not_found(format!("no such operation: {operation}"))),
            }
        }

        /// The TypeScript side of the table: `Operations` (each name's request and response
        /// types) and `ROUTES` (each name's HTTP method and path).
        pub fn typescript_operations() -> String {
            let cfg = ts_rs::Config::default();
            let mut out = String::from("\n/** Every operation: its request and response types. */\nexport interface Operations {\n");
            $(
                for line in concat!($($doc, "\n"),*).lines().filter(|l| !l.trim().is_empty()) {
                    out.push_str(&format!("  /**{line} */\n"));
                }
                out.push_str(&format!(
                    "  {}: [{}, {}];\n",
                    stringify!($name),
                    <$request as ts_rs::TS>::name(&cfg),
                    <$response as ts_rs::TS>::name(&cfg),
                ));
            )*
            out.push_str("}\n\nexport type Operation = keyof Operations;\n\n");
            out.push_str("/** How each operation is reached over HTTP; `{field}` comes from the request. */\n");
            out.push_str("export const ROUTES: { [O in Operation]: { method: \"GET\" | \"POST\"; path: string } } = {\n");
            for operation in OPERATIONS {
                out.push_str(&format!(
                    "  {}: {{ method: \"{}\", path: \"{}\" }},\n",
                    operation.name,
                    operation.method.as_str(),
                    operation.path
                ));
            }
            out.push_str("};\n");
            out.push_str(&format!(
                "\n/** The event status snapshots arrive as (Tauri event, server-sent event). */\nexport const STATUS_EVENT = \"{}\";\n",
                STATUS_EVENT
            ));
            out
        }
    };
}

pub(crate) use operations;
