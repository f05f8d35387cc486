"""The flow YAML as pydantic models (shape only; cross-references are checked in `validation`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from flowkit.engine.timeperiod import parse_time_period

DEFAULT_BACK_PRESSURE_OBJECT_THRESHOLD = 10_000


def _time_period(value: str) -> str:
    if "#{" not in value:  # values with parameter references are checked once parameters are known
        parse_time_period(value)  # raises ValueError with a one-line message
    return value


def _scalar_to_str(value: Any) -> Any:
    # YAML turns `Batch Size: 5` into an int and `Flag: true` into a bool; properties are text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


TimePeriod = Annotated[str, AfterValidator(_time_period)]
Text = Annotated[str, BeforeValidator(_scalar_to_str)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterModel(_Model):
    """One parameter of a parameter context."""

    name: str = Field(min_length=1, pattern=r"^[^/{}#]+$")
    value: Text | None = None
    sensitive: bool = False
    description: str = ""


class ParameterContextModel(_Model):
    """A named set of parameters; `inherits` lists other contexts, earlier entries win."""

    name: str = Field(min_length=1)
    description: str = ""
    inherits: list[str] = []
    parameters: list[ParameterModel] = []


class ParameterProviderModel(_Model):
    """Fills parameter values from outside the YAML: environment variables or a YAML/JSON file."""

    name: str = Field(min_length=1)
    type: Literal["environment", "file"]
    parameters: dict[str, str] = {}  # environment: parameter name -> variable name
    path: str | None = None  # file: mapping file, relative to the flow file


class ControllerServiceModel(_Model):
    """A controller service; processors reference it by `name`."""

    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    properties: dict[str, Text | None] = {}


class SchedulingModel(_Model):
    """Timer-driven scheduling settings (NiFi defaults); time periods may reference parameters."""

    run_schedule: TimePeriod = "0 sec"
    concurrent_tasks: int = Field(default=1, ge=1, le=64)
    penalty_duration: TimePeriod = "30 sec"
    yield_duration: TimePeriod = "1 sec"


class ProcessorModel(_Model):
    """A processor in the process group."""

    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    properties: dict[str, Text | None] = {}
    scheduling: SchedulingModel = SchedulingModel()
    auto_terminate: list[str] = []


class ConnectionModel(_Model):
    """A queue from one processor's relationship(s) to another processor."""

    source: str
    relationships: list[str] = Field(min_length=1)
    destination: str
    back_pressure_object_threshold: int = Field(default=DEFAULT_BACK_PRESSURE_OBJECT_THRESHOLD, ge=1)


class ProcessGroupModel(_Model):
    """The process group: its name (the flow id is its slug unless `id` is given) and bound context."""

    name: str = Field(min_length=1)
    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    parameter_context: str | None = None


class FlowModel(_Model):
    """A whole flow file."""

    flowkit: Literal[1]
    process_group: ProcessGroupModel
    parameter_contexts: list[ParameterContextModel] = []
    parameter_providers: list[ParameterProviderModel] = []
    controller_services: list[ControllerServiceModel] = []
    processors: list[ProcessorModel] = Field(min_length=1)
    connections: list[ConnectionModel] = []
