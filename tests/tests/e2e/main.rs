//! End-to-end tests of quilt-mcp: the real host binary over HTTP, real guests, real
//! SeaweedFS, real RS256 tokens checked against a real JWKS endpoint. Run by `make test`.

mod auth;
mod catalog;
mod catalog_access;
mod clients;
mod conformance;
mod guest_limits;
mod hardening;
mod hostile_keys;
mod http_surface;
mod mcp_protocol;
mod packages;
mod registry_standin;
mod replicas;
mod resource_server;
mod sandbox;
mod sandbox_read_only;
mod standalone;
mod support;
mod tool_errors;
mod tools;
mod web_identity;

use std::sync::Arc;

use support::{SharedStack, trial};

macro_rules! trials {
    ($runtime:expr, $stack:expr; $($module:ident :: $test:ident),* $(,)?) => {
        vec![$(trial(concat!(stringify!($module), "::", stringify!($test)), $module::$test, $runtime, $stack)),*]
    };
}

fn main() -> std::process::ExitCode {
    let arguments = libtest_mimic::Arguments::from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stack = Arc::new(SharedStack::default());
    let trials = trials![runtime.handle(), &stack;
        auth::valid_token_is_served,
        auth::missing_token_is_challenged,
        auth::rejected_tokens_never_reach_the_guest,
        auth::explicit_audience_and_public_url,
        auth::public_key_pem_source,
        auth::hs256_secret_source,
        auth::no_auth_mode_runs_anonymously,
        auth::rotated_key_is_fetched_on_unknown_kid,
        auth::configured_algorithms_are_the_accepted_ones,
        auth::leeway_applies_to_exp_and_nbf,
        auth::tokens_never_appear_in_logs,
        http_surface::health_check,
        http_surface::protected_resource_metadata,
        http_surface::get_and_delete_are_not_allowed,
        http_surface::unknown_path_is_not_found,
        http_surface::origin_allowlist,
        http_surface::oversized_body_is_refused,
        sandbox::trap_is_contained,
        sandbox::endless_loop_times_out,
        sandbox::memory_exhaustion_is_contained,
        sandbox::no_state_survives_a_request,
        sandbox::deadline_covers_a_slow_outgoing_request,
        sandbox::deadline_covers_a_slow_s3,
        sandbox::full_pool_answers_503,
        sandbox::egress_is_limited_to_the_allowlist,
        sandbox::credential_headers_are_stripped,
        sandbox::request_context_carries_the_caller,
        sandbox::guest_output_is_logged_per_request,
        sandbox::no_credentials_configured,
        sandbox::guest_with_forbidden_import_is_refused_at_start,
        sandbox::no_files_environment_or_arguments,
        sandbox::planted_credentials_are_never_used,
        sandbox::stack_overflow_is_contained,
        sandbox::oversized_response_is_replaced_by_an_error,
        sandbox::concurrent_callers_see_only_their_own,
        sandbox_read_only::bwrap_host_writes_only_its_private_tmp,
        mcp_protocol::initialize_negotiates_the_version,
        mcp_protocol::notifications_are_accepted_without_a_body,
        mcp_protocol::ping,
        mcp_protocol::tools_list_describes_every_tool,
        mcp_protocol::tools_call_needs_no_initialize,
        mcp_protocol::unknown_methods,
        mcp_protocol::malformed_messages,
        mcp_protocol::unsupported_protocol_version_header,
        mcp_protocol::never_a_session,
        mcp_protocol::modern_era_discover_list_and_call,
        mcp_protocol::modern_era_refusals,
        mcp_protocol::eras_are_chosen_per_request,
        mcp_protocol::accept_header,
        conformance::official_suite,
        resource_server::challenges_lead_to_the_metadata,
        tools::auth_status,
        tools::list_objects,
        tools::list_objects_pages,
        tools::object_info,
        tools::object_text,
        tools::object_text_encodings,
        tools::object_fetch,
        tools::object_link,
        tools::put_then_read_back,
        tools::put_reports_each_item,
        tools::versioned_objects,
        tool_errors::missing_object_and_bucket,
        tool_errors::bad_arguments_name_the_argument,
        tool_errors::read_only_identity_is_denied,
        guest_limits::refused_egress_is_attempted_once,
        guest_limits::largest_reads_fit_in_default_memory,
        guest_limits::huge_s3_error_is_cut_short,
        guest_limits::oversized_results_are_a_tool_error,
        guest_limits::standalone_guest_refuses_duplicate_keys,
        web_identity::each_caller_reaches_only_their_bucket,
        web_identity::refused_tokens_never_reach_sts,
        web_identity::sts_down_is_a_precise_tool_error,
        catalog::registry_credentials_reach_only_the_callers_bucket,
        catalog::search_finds_objects_packages_and_entries,
        catalog::withheld_or_refused_catalog_access_is_an_error,
        catalog::one_exchange_per_token_until_near_expiry,
        catalog::registry_down_is_a_precise_error,
        catalog::search_narrows_when_the_registry_refuses_many_indices,
        packages::create_browse_and_list,
        packages::big_object_hashed_in_chunks,
        packages::copy_mode_puts_data_in_the_registry,
        packages::versioned_bucket_pins_versions,
        packages::update_then_diff,
        packages::delete_revision_then_whole_package,
        packages::package_errors,
        packages::denied_create_leaves_no_pointer,
        packages::quilt3_reads_ours_and_we_read_its,
        packages::quilt3_resolves_ours_by_name_and_lists_it,
        packages::duplicate_manifest_keys_read_as_quilt3_reads_them,
        packages::manifest_limits_come_from_configuration,
        hostile_keys::dot_segments_are_refused_and_nothing_moves,
        catalog_access::bearer_is_forwarded_unless_turned_off,
        catalog_access::authorization_header_goes_only_to_the_registry,
        catalog_access::registry_credentials_are_exchanged_once_per_token,
        registry_standin::credentials_and_grants,
        registry_standin::search_objects_and_packages,
        standalone::s3_tools_under_wasmtime_serve,
        standalone::hostile_guest_reaches_only_s3_and_the_registry,
        standalone::unusable_configuration_is_named,
        replicas::round_robin_workflow_survives_a_lost_replica,
        clients::python_mcp2_auto,
        clients::python_mcp2_legacy,
        clients::python_mcp1_streamable_http,
        clients::typescript_sdk,
        clients::inspector_cli,
        clients::stdio_client_through_mcp_remote,
        clients::rmcp_auto,
        clients::rmcp_legacy,
        http_surface::host_allowlist,
        hardening::connection_floods_are_survived,
        hardening::idle_connections_are_reaped,
        hardening::clients_that_never_read_are_cut_off,
        hardening::shutdown_drains_and_exits,
        hardening::abandoned_requests_are_logged,
        hardening::token_header_fields_are_bounded,
        hardening::dribbled_body_gets_408,
        hardening::secrets_stay_out_of_logs,
        hardening::duplicate_keys_are_refused,
        hardening::logged_fields_are_bounded,
        hardening::one_caller_cannot_starve_the_others,
        hardening::host_smuggling_is_refused,
        hardening::guest_failures_are_short_for_clients,
        hardening::critical_header_extensions_are_refused,
        hardening::withdrawn_keys_stop_being_trusted,
        hardening::slow_identity_provider_stalls_no_known_key,
    ];
    // Start the shared stack from this thread, which outlives every trial: its processes
    // die with the thread that spawned them (PR_SET_PDEATHSIG), and a trial's thread may
    // end while other trials still need SeaweedFS. A failure to start is reported by each
    // trial that asks for the stack.
    let _ = runtime.block_on(stack.get());
    let conclusion = libtest_mimic::run(&arguments, trials);
    // The trials are consumed by now, so this is the last handle: dropping it kills
    // SeaweedFS and the JWKS server and removes the data directory.
    drop(stack);
    drop(runtime);
    conclusion.exit_code()
}
