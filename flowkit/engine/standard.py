"""Standard processors shipped with the engine (registered as ``flowkit.processors`` entry points).

GenerateFlowFile (source), UpdateAttribute, RouteOnAttribute, LogAttribute, LogMessage,
DelayFlowFile, CountFlowFiles. See docs/flow-format.md for their properties.
"""

from __future__ import annotations

import logging

from flowkit.engine import validators
from flowkit.engine.api import ProcessContext, ProcessSession
from flowkit.engine.components import Processor, PropertyDescriptor, Relationship
from flowkit.engine.errors import ConfigurationError

REL_SUCCESS = Relationship("success", "every FlowFile processed")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_attribute_list(text: str) -> dict[str, str]:
    """``"a=1; b=two"`` -> ``{"a": "1", "b": "two"}``."""
    result: dict[str, str] = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"'{item.strip()}' is not key=value")
        result[key.strip()] = value.strip()
    return result


def _attribute_list(value: str) -> str | None:
    try:
        parse_attribute_list(value)
    except ValueError as exc:
        return f"{exc} (expected 'key=value; key2=value2')"
    return None


class GenerateFlowFile(Processor):
    """Creates FlowFiles with the given text, attributes and optional records (a source)."""

    BATCH_SIZE = PropertyDescriptor(
        "Batch Size", "FlowFiles created per trigger", default="1", validator=validators.POSITIVE_INTEGER
    )
    TEXT = PropertyDescriptor("Text", "content of each FlowFile (UTF-8)", default="")
    RECORD_COUNT = PropertyDescriptor(
        "Record Count",
        "records per FlowFile ({'index': i, 'text': Text}); 0 = none",
        default="0",
        validator=validators.NON_NEGATIVE_INTEGER,
    )
    ATTRIBUTES = PropertyDescriptor(
        "Attributes", "attributes to set, 'key=value; key2=value2'", validator=_attribute_list
    )
    properties = (BATCH_SIZE, TEXT, RECORD_COUNT, ATTRIBUTES)
    relationships = (REL_SUCCESS,)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        text = context.property(self.TEXT).value or ""
        record_count = context.property(self.RECORD_COUNT).as_int()
        attributes = parse_attribute_list(context.property(self.ATTRIBUTES).value or "")
        batch_size = context.property(self.BATCH_SIZE).as_int()
        for index in range(batch_size):
            records = [{"index": i, "text": text} for i in range(record_count)] if record_count else None
            flowfile = session.create(
                attributes={**attributes, "generate.index": str(index)},
                content=text.encode(),
                records=records,
            )
            session.transfer(flowfile, REL_SUCCESS)
        session.adjust_counter(f"{context.name}.generated", batch_size)


class UpdateAttribute(Processor):
    """Sets attributes on every FlowFile."""

    ATTRIBUTES = PropertyDescriptor("Attributes", "'key=value; key2=value2'", required=True, validator=_attribute_list)
    properties = (ATTRIBUTES,)
    relationships = (REL_SUCCESS,)
    input_required = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        attributes = parse_attribute_list(context.property(self.ATTRIBUTES).value or "")
        for flowfile in session.get_batch(100):
            session.transfer(session.put_attributes(flowfile, attributes), REL_SUCCESS)


class RouteOnAttribute(Processor):
    """Routes FlowFiles whose attribute equals a value to `matched`, others to `unmatched`."""

    ATTRIBUTE = PropertyDescriptor("Attribute", "attribute name", required=True, validator=validators.NON_EMPTY)
    VALUE = PropertyDescriptor("Value", "value to compare with", required=True)
    REL_MATCHED = Relationship("matched", "the attribute equals the value")
    REL_UNMATCHED = Relationship("unmatched", "the attribute is missing or different")
    properties = (ATTRIBUTE, VALUE)
    relationships = (REL_MATCHED, REL_UNMATCHED)
    input_required = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        name = context.property(self.ATTRIBUTE).value
        wanted = context.property(self.VALUE).value
        for flowfile in session.get_batch(100):
            matched = name is not None and flowfile.attributes.get(name) == wanted
            session.transfer(flowfile, self.REL_MATCHED if matched else self.REL_UNMATCHED)


_LOG_LEVEL = PropertyDescriptor(
    "Log Level", "DEBUG, INFO, WARNING or ERROR", default="INFO", allowable_values=LOG_LEVELS
)


class LogAttribute(Processor):
    """Logs each FlowFile's attributes and size, then passes it on (WARNING/ERROR become bulletins)."""

    LOG_LEVEL = _LOG_LEVEL
    PREFIX = PropertyDescriptor("Log Prefix", "text before each line", default="")
    properties = (LOG_LEVEL, PREFIX)
    relationships = (REL_SUCCESS,)
    input_required = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        level = logging.getLevelName(context.property(self.LOG_LEVEL).value or "INFO")
        prefix = context.property(self.PREFIX).value or ""
        for flowfile in session.get_batch(100):
            attributes = ", ".join(f"{k}={v}" for k, v in sorted(flowfile.attributes.items()))
            context.logger.log(level, "%s%s [%d bytes] {%s}", prefix, flowfile.uuid, flowfile.size, attributes)
            session.transfer(flowfile, REL_SUCCESS)


class LogMessage(Processor):
    """Logs a message once per FlowFile (or once per trigger when it has no incoming connection)."""

    LOG_LEVEL = _LOG_LEVEL
    MESSAGE = PropertyDescriptor("Message", "the text to log", required=True)
    properties = (LOG_LEVEL, MESSAGE)
    relationships = (REL_SUCCESS,)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        level = logging.getLevelName(context.property(self.LOG_LEVEL).value or "INFO")
        message = context.property(self.MESSAGE).value
        flowfiles = session.get_batch(100)
        for flowfile in flowfiles:
            context.logger.log(level, "%s", message)
            session.transfer(flowfile, REL_SUCCESS)
        if not flowfiles and not context.final_pass:
            context.logger.log(level, "%s", message)


class DelayFlowFile(Processor):
    """Holds each FlowFile for a delay, then passes it on (wakes early when the run stops)."""

    DELAY = PropertyDescriptor(
        "Delay", "how long to hold each FlowFile", default="1 sec", validator=validators.TIME_PERIOD
    )
    properties = (DELAY,)
    relationships = (REL_SUCCESS,)
    input_required = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        flowfile = session.get()
        if flowfile is None:
            return
        context.sleep(context.property(self.DELAY).as_seconds())
        session.transfer(flowfile, REL_SUCCESS)


class CountFlowFiles(Processor):
    """Counts FlowFiles in a run counter and a running total kept in its state (key ``total``)."""

    COUNTER = PropertyDescriptor("Counter Name", "run counter to add to", default="flowfiles.counted")
    properties = (COUNTER,)
    relationships = (REL_SUCCESS,)
    input_required = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        flowfiles = session.get_batch(1000)
        if not flowfiles:
            return
        state = session.get_state()
        try:
            total = int(state.get("total") or "0")
        except ValueError:
            raise ConfigurationError(f"{context.name}: state key 'total' is not a number") from None
        session.set_state({**state.data, "total": str(total + len(flowfiles))})
        session.adjust_counter(context.property(self.COUNTER).value or "flowfiles.counted", len(flowfiles))
        for flowfile in flowfiles:
            session.transfer(flowfile, REL_SUCCESS)
