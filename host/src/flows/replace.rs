//! "Use another connection instead": every step of the project's flows that references
//! one connection is pointed at another connection of the same piece, in one
//! transaction, with an audit event on both connections.

use super::{FlowError, Flows, template};
use crate::store::{FlowRewrite, NewAuditEvent};

/// How often a replacement is retried when a flow changes under it.
const ATTEMPTS: usize = 5;

/// What a replacement changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// Flows rewritten.
    pub flows: usize,
    /// Steps rewritten.
    pub steps: usize,
}

impl Flows {
    /// Points every step of the project's flows that uses connection `from` at
    /// connection `to` (both external ids; `from` may already be deleted, `to` must be
    /// a connection of the same piece). All flows change together or none does.
    pub async fn replace_connection(
        &self,
        project: &str,
        from: &str,
        to: &str,
    ) -> Result<Replaced, FlowError> {
        let store = self.connections.store();
        let target = store
            .find_connection(project, to)
            .await?
            .ok_or_else(|| FlowError::Invalid(format!("there is no connection `{to}`")))?;
        let source = store.find_connection(project, from).await?;
        if from == to {
            return Err(FlowError::Invalid("choose a different connection".into()));
        }
        if let Some(source) = &source
            && source.piece != target.piece
        {
            return Err(FlowError::Invalid(format!(
                "`{to}` is a {} connection; the steps need {}",
                target.piece, source.piece
            )));
        }
        for _ in 0..ATTEMPTS {
            let mut rewrites = Vec::new();
            let mut steps = 0;
            for used in store.flows_using(project, from).await? {
                let Some(row) = store.get_flow(project, &used.id).await? else {
                    continue;
                };
                let read_at = row.updated_at;
                let mut flow = super::Flow::try_from(row)?;
                for step in &mut flow.definition.steps {
                    let uses = step
                        .auth
                        .as_deref()
                        .and_then(|r| template::parse_connection_ref(r).ok())
                        .is_some_and(|key| key == from);
                    if uses {
                        if step.piece != target.piece {
                            return Err(FlowError::Invalid(format!(
                                "step `{}` of flow “{}” runs {}, not {}",
                                step.name, flow.definition.name, step.piece, target.piece
                            )));
                        }
                        step.auth = Some(format!("{{{{connections['{to}']}}}}"));
                        steps += 1;
                    }
                }
                let checked = self.check(flow.definition)?;
                rewrites.push(FlowRewrite {
                    id: flow.id,
                    read_at,
                    definition: serde_json::to_string(&checked.definition)
                        .map_err(|e| FlowError::Invalid(e.to_string()))?,
                    refs: checked.references(),
                });
            }
            let detail = |other: &str| {
                serde_json::json!({ "with": other, "flows": rewrites.len(), "steps": steps })
                    .to_string()
            };
            let mut events = vec![NewAuditEvent::for_connection(
                &target,
                "replacing",
                Some(detail(from)),
            )];
            if let Some(source) = &source {
                events.push(NewAuditEvent::for_connection(
                    source,
                    "replaced",
                    Some(detail(to)),
                ));
            }
            if store.rewrite_flows(project, &rewrites, events).await? {
                for flow in &rewrites {
                    self.cache.remove(&(project.to_owned(), flow.id.clone()));
                }
                return Ok(Replaced {
                    flows: rewrites.len(),
                    steps,
                });
            }
        }
        Err(FlowError::Invalid(
            "the flows kept changing while they were being updated; try again".into(),
        ))
    }
}
