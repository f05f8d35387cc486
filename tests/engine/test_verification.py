"""The engine's verification hook (NiFi's VerifiableProcessor / VerifiableControllerService)."""

from __future__ import annotations

from pathlib import Path

from flowkit.engine import ConfigurationContext, ControllerService, Processor, PropertyDescriptor, load_flow, register
from flowkit.engine.verification import ConfigVerificationResult, Outcome, VerificationContext, verify_flow
from tests.engine.helpers import SUCCESS, write_flow

ENABLED: list[str] = []


@register
class CheckedService(ControllerService):
    """Verifies that its 'Reachable' property says yes."""

    REACHABLE = PropertyDescriptor("Reachable", default="yes")
    properties = (REACHABLE,)

    def on_enabled(self, context: ConfigurationContext) -> None:
        ENABLED.append(context.name)
        self.reachable = context.property(self.REACHABLE).value == "yes"

    def on_disabled(self) -> None:
        ENABLED.append("disabled")

    def verify(self, context: VerificationContext) -> list[ConfigVerificationResult]:
        outcome = Outcome.SUCCESSFUL if self.reachable else Outcome.FAILED
        return [ConfigVerificationResult("reach the remote", outcome, "answered" if self.reachable else "no answer")]


@register
class CheckingSource(Processor):
    """Verifies through the service it references; raises when asked to."""

    SERVICE = PropertyDescriptor("Service", required=True, controller_service=CheckedService)
    EXPLODE = PropertyDescriptor("Explode", default="no")
    properties = (SERVICE, EXPLODE)
    relationships = (SUCCESS,)

    def verify(self, context: VerificationContext) -> list[ConfigVerificationResult]:
        if context.property(self.EXPLODE).value == "yes":
            raise RuntimeError("secret-ish details that must not be shown")
        service = context.property(self.SERVICE).as_service(CheckedService)
        return [ConfigVerificationResult("use the service", Outcome.SKIPPED, f"service reachable={service.reachable}")]


FLOW = """\
    flowkit: 1
    process_group: {name: Verify}
    controller_services:
      - {name: Remote, type: CheckedService, properties: {Reachable: "REACH"}}
    processors:
      - name: Source
        type: CheckingSource
        properties: {Service: Remote, Explode: "EXPLODE"}
        auto_terminate: [success]
    """


def test_services_and_processors_verify_with_services_enabled_then_disabled(tmp_path: Path) -> None:
    ENABLED.clear()
    flow = load_flow(write_flow(tmp_path, FLOW.replace("REACH", "no").replace("EXPLODE", "no")))
    results = verify_flow(flow)
    assert [(r.component, r.result.step, r.result.outcome, r.result.explanation) for r in results] == [
        ("Remote", "reach the remote", Outcome.FAILED, "no answer"),
        ("Source", "use the service", Outcome.SKIPPED, "service reachable=False"),
    ]
    assert ENABLED == ["Remote", "disabled"]


def test_a_verify_that_raises_is_one_failed_step_naming_only_the_exception_type(tmp_path: Path) -> None:
    flow = load_flow(write_flow(tmp_path, FLOW.replace("REACH", "yes").replace("EXPLODE", "yes")))
    results = verify_flow(flow)
    assert results[0].result.outcome is Outcome.SUCCESSFUL
    assert (results[1].component, results[1].result.outcome, results[1].result.explanation) == (
        "Source",
        Outcome.FAILED,
        "verification failed: RuntimeError",
    )


def test_example_flow_has_nothing_to_verify() -> None:
    assert verify_flow(load_flow(Path(__file__).resolve().parents[2] / "flows" / "example.yaml")) == []
