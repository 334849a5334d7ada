"""One self-contained ``.proto`` text for the OTLP export requests, from installed descriptors.

``opentelemetry-proto`` ships compiled descriptors, not ``.proto`` files. The engine parses
OTLP itself (``Protobuf`` input format with ``format_schema_source='string'``), so we render
the descriptors of the three export requests and everything they reference into one file
without imports or packages; it always matches the installed version. ``AnyValue``'s array
and key-value list fields are declared ``bytes`` (the same wire type), because the engine
cannot map a recursive message onto a column: they land serialized and are decoded to JSON
in the views.
"""

from __future__ import annotations

from functools import cache

from google.protobuf import descriptor as d
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

TRACES = "ExportTraceServiceRequest"
LOGS = "ExportLogsServiceRequest"
METRICS = "ExportMetricsServiceRequest"

_SCALARS = {
    d.FieldDescriptor.TYPE_DOUBLE: "double",
    d.FieldDescriptor.TYPE_FLOAT: "float",
    d.FieldDescriptor.TYPE_INT64: "int64",
    d.FieldDescriptor.TYPE_UINT64: "uint64",
    d.FieldDescriptor.TYPE_INT32: "int32",
    d.FieldDescriptor.TYPE_FIXED64: "fixed64",
    d.FieldDescriptor.TYPE_FIXED32: "fixed32",
    d.FieldDescriptor.TYPE_BOOL: "bool",
    d.FieldDescriptor.TYPE_STRING: "string",
    d.FieldDescriptor.TYPE_BYTES: "bytes",
    d.FieldDescriptor.TYPE_UINT32: "uint32",
    d.FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    d.FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    d.FieldDescriptor.TYPE_SINT32: "sint32",
    d.FieldDescriptor.TYPE_SINT64: "sint64",
}


def _local_name(full_name: str, package: str) -> str:
    return full_name[len(package) + 1 :] if package else full_name


_AS_BYTES = {"AnyValue.array_value", "AnyValue.kvlist_value"}


def _type_name(field: d.FieldDescriptor) -> str:
    if f"{field.containing_type.name}.{field.name}" in _AS_BYTES:
        return "bytes"
    if field.message_type is not None:
        t = field.message_type
        return _local_name(t.full_name, t.file.package)
    if field.enum_type is not None:
        t = field.enum_type
        return _local_name(t.full_name, t.file.package)
    return _SCALARS[field.type]


def _field_line(field: d.FieldDescriptor, indent: str) -> str:
    label = ""
    if field.is_repeated:
        label = "repeated "
    elif field.containing_oneof is not None and field.containing_oneof.name.startswith("_"):
        label = "optional "  # a proto3 optional field (synthetic oneof)
    return f"{indent}{label}{_type_name(field)} {field.name} = {field.number};"


def _enum(enum: d.EnumDescriptor, indent: str) -> list[str]:
    lines = [f"{indent}enum {enum.name} {{"]
    lines += [f"{indent}  {v.name} = {v.number};" for v in enum.values]
    return [*lines, f"{indent}}}"]


def _message(message: d.Descriptor, indent: str = "") -> list[str]:
    inner = indent + "  "
    lines = [f"{indent}message {message.name} {{"]
    for enum in message.enum_types:
        lines += _enum(enum, inner)
    for nested in message.nested_types:
        lines += _message(nested, inner)
    in_oneof: set[str] = set()
    for oneof in message.oneofs:
        if oneof.name.startswith("_"):
            continue
        lines.append(f"{inner}oneof {oneof.name} {{")
        lines += [_field_line(f, inner + "  ") for f in oneof.fields]
        lines.append(f"{inner}}}")
        in_oneof.update(f.name for f in oneof.fields)
    lines += [_field_line(f, inner) for f in message.fields if f.name not in in_oneof]
    return [*lines, f"{indent}}}"]


def _files() -> list[d.FileDescriptor]:
    """The export-request files and all their dependencies, dependencies first."""
    ordered: list[d.FileDescriptor] = []

    def visit(file: d.FileDescriptor) -> None:
        if file in ordered:
            return
        for dep in file.dependencies:
            visit(dep)
        ordered.append(file)

    for module in (trace_service_pb2, logs_service_pb2, metrics_service_pb2):
        visit(module.DESCRIPTOR)
    return ordered


@cache
def otlp_schema() -> str:
    """The proto3 text of every OTLP message, flattened into one package-less file."""
    lines = ['syntax = "proto3";', ""]
    seen: set[str] = set()
    for file in _files():
        for enum in file.enum_types_by_name.values():
            if enum.name not in seen:
                seen.add(enum.name)
                lines += _enum(enum, "")
        for message in file.message_types_by_name.values():
            if message.name in seen:
                raise ValueError(f"two OTLP messages are named {message.name}")
            seen.add(message.name)
            lines += _message(message)
    return "\n".join(lines) + "\n"
