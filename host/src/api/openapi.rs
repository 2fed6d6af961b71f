//! `GET /api/v1/openapi.json`: the API's OpenAPI 3.1 document, generated from the
//! handlers' `#[utoipa::path]` annotations and the request and view types, collected by
//! the same [`super::routes`] that builds the router, so the two cannot drift.

use super::views::ErrorBody;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::LazyLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's fixed parts: info, security schemes, tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ThinkFleet Connections",
        description = "Connections (encrypted credentials for pieces), flows that use them, \
                       OAuth2, and the audit trail. Every route takes a project API token \
                       (`Authorization: Bearer tfk_…`) unless it says otherwise; errors are \
                       JSON with a stable `code` and a human `message`."
    ),
    security(("projectToken" = [])),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody)),
    tags(
        (name = "pieces", description = "The loaded pieces and their auth schemas"),
        (name = "connections", description = "Stored credentials"),
        (name = "flows", description = "Flows and their runs"),
        (name = "audit", description = "The audit trail"),
        (name = "webhook", description = "The connection-health webhook and its deliveries"),
        (name = "tokens", description = "The project's API tokens"),
        (name = "agents", description = "Agent tokens: MCP access to chosen connections' actions"),
        (name = "oauth2", description = "The OAuth2 popup flow"),
        (name = "admin", description = "Operators' endpoints (admin token)"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut project = Http::new(HttpAuthScheme::Bearer);
        project.bearer_format = Some("tfk_<id>_<secret>".into());
        project.description = Some(
            "A project API token from `thinkfleet project create` / `thinkfleet token create`."
                .into(),
        );
        components.add_security_scheme("projectToken", SecurityScheme::Http(project));
        let mut admin = Http::new(HttpAuthScheme::Bearer);
        admin.description = Some(
            "The operators' token, THINKFLEET_ADMIN_TOKEN on the server; without it the admin \
             API answers 401."
                .into(),
        );
        components.add_security_scheme("adminToken", SecurityScheme::Http(admin));
    }
}

/// `ValueInput` refuses unknown fields in every variant (`deny_unknown_fields`), which
/// utoipa does not carry into an internally tagged enum's variants: close them here.
struct ClosedValueVariants;

impl Modify for ClosedValueVariants {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        let Some(RefOr::T(Schema::OneOf(one_of))) = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("ValueInput"))
        else {
            return;
        };
        for item in &mut one_of.items {
            if let RefOr::T(Schema::Object(variant)) = item {
                variant.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// The document as served.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut document = super::routes().into_openapi();
    // After the routes added their schemas (the derive's modifiers run before).
    ClosedValueVariants.modify(&mut document);
    serde_json::to_string_pretty(&document).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
});

/// Serves the document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)))]
pub async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
