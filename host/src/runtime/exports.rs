//! Calling one export of a fresh instance, type-checking only that function (all of them
//! once, at load).
//!
//! The generated `…WorldPre::instantiate_async` loads every export of the world after
//! instantiating, and `get_typed_func` type-checks each of them again on every call
//! (`GuestIndices::load`): `info`'s large `piece-info` record included, though a call
//! uses one function. Here the export indices are looked up once, when the piece loads
//! (after the generated `…WorldPre::new` found every name); the load's one `info` call
//! type-checks every export (`validate`, `run-action`, `refresh` beside `info`), so a
//! component with a mistyped export is refused at install; and every later call
//! instantiates and type-checks only the function it calls. Type-checking stays on
//! every call, as wasmtime's safe API requires (a `TypedFunc` belongs to one store).

use super::bindings::v0_2;
use super::bindings::v0_2_session::exports::thinkfleet::piece::session::SessionToken;
use super::state::HostState;
use wasmtime::Store;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Lower,
};

/// The piece interface's exports, and the optional session export's, by index.
pub(super) struct Exports {
    pub info: ComponentExportIndex,
    pub validate: ComponentExportIndex,
    pub run_action: ComponentExportIndex,
    /// `session.refresh`, when the component exports `session`.
    pub refresh: Option<ComponentExportIndex>,
}

impl Exports {
    /// Looks up the functions of `interface` (the piece interface's full name for the
    /// component's contract) and of `session` when given.
    pub fn find(
        component: &Component,
        interface: &str,
        session: Option<&str>,
    ) -> wasmtime::Result<Self> {
        let function = |interface: &str, name: &str| {
            let instance = component
                .get_export_index(None, interface)
                .ok_or_else(|| wasmtime::format_err!("no exported instance `{interface}`"))?;
            component
                .get_export_index(Some(&instance), name)
                .ok_or_else(|| wasmtime::format_err!("`{interface}` does not export `{name}`"))
        };
        Ok(Self {
            info: function(interface, "info")?,
            validate: function(interface, "validate")?,
            run_action: function(interface, "run-action")?,
            refresh: session.map(|s| function(s, "refresh")).transpose()?,
        })
    }
}

/// Instantiates `pre` in `store` and calls the export at `index` with `params`, checking
/// that function's type against `P` and `R`.
pub(super) async fn call<P, R>(
    pre: &InstancePre<HostState>,
    store: &mut Store<HostState>,
    index: &ComponentExportIndex,
    params: P,
) -> wasmtime::Result<R>
where
    P: ComponentNamedList + Lower + Send + Sync,
    R: ComponentNamedList + Lift + Send + Sync + 'static,
{
    let instance = pre.instantiate_async(&mut *store).await?;
    let func = instance.get_typed_func::<P, R>(&mut *store, index)?;
    func.call_async(&mut *store, params).await
}

/// `session.refresh`'s parameters and results (a 0.2.0 export only), for the check at
/// load and the call.
pub(super) type RefreshParams<'a> = (&'a v0_2::wit::Credentials,);
pub(super) type RefreshResults = (Result<SessionToken, v0_2::wit::PieceError>,);

/// Checks the type of `session.refresh` in `instance`.
pub(super) fn check_refresh(
    instance: &Instance,
    store: &mut Store<HostState>,
    index: &ComponentExportIndex,
) -> wasmtime::Result<()> {
    use wasmtime::error::Context as _;
    instance
        .get_typed_func::<RefreshParams<'_>, RefreshResults>(&mut *store, index)
        .context("export `session.refresh` does not have the contract's type")?;
    Ok(())
}
