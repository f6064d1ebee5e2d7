//! The `local` and `process` flavors against the orchestrator suite of zenml-testkit.

use std::num::NonZeroUsize;

use zenml_core::ComponentContext;
use zenml_orchestrator::{
    LocalOrchestrator, LocalOrchestratorConfig, OrchestratorFlavor, ProcessOrchestrator,
};

#[test]
fn the_local_orchestrator_passes_the_testkit_suite() {
    for parallelism in [2, 4] {
        let orchestrator = LocalOrchestrator::new(NonZeroUsize::new(parallelism).unwrap());
        let report = zenml_testkit::orchestrator::run_all(&orchestrator);
        report.assert_passed();
        assert!(report.skips().is_empty(), "{:?}", report.skips());
        // It runs steps in this process: the checks of step processes do not apply.
        assert_eq!(
            report
                .not_applicable()
                .iter()
                .map(|(group, check, _)| (*group, *check))
                .collect::<Vec<_>>(),
            [
                ("processes", "step_processes_end_as_reported"),
                ("processes", "a_step_asked_to_retry_runs_again"),
                ("processes", "step_output_is_handed_over")
            ]
        );
    }
}

#[test]
fn the_process_orchestrator_passes_the_testkit_suite() {
    for parallelism in [2, 4] {
        let orchestrator = ProcessOrchestrator::new(NonZeroUsize::new(parallelism).unwrap());
        let report = zenml_testkit::orchestrator::run_all(&orchestrator);
        report.assert_passed();
        assert!(report.skips().is_empty(), "{:?}", report.skips());
        assert!(
            report.not_applicable().is_empty(),
            "{:?}",
            report.not_applicable()
        );
    }
}

#[test]
fn the_local_orchestrator_opened_from_its_default_config_passes_too() {
    // One step per core: this machine may have one core only, so no parallel check here.
    let orchestrator = LocalOrchestratorConfig::default()
        .open(&ComponentContext::new("/repo"))
        .unwrap();
    zenml_testkit::orchestrator::every_step_runs_once_after_its_upstream_steps(
        orchestrator.as_ref(),
    );
    zenml_testkit::orchestrator::a_failure_skips_dependants_and_other_branches_finish(
        orchestrator.as_ref(),
    );
    zenml_testkit::orchestrator::a_panicking_step_is_a_failure(orchestrator.as_ref());
}
