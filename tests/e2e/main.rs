//! The end-to-end suite: one test binary, a module per feature.

mod agents;
mod cli;
mod connections;
mod crash;
mod credential_hosts;
mod example_pieces;
mod fairness;
mod flow_history;
mod flow_pages;
mod flows;
mod guide;
mod oauth;
mod oauth_refresh;
mod operations;
mod piece_install;
mod sandbox;
mod scaffold;
mod scrubbing;
mod sessions;
mod store_copy;
mod tokens;
mod vault;
mod web_flows;
mod web_pages;
mod web_ui;
mod webhooks;
