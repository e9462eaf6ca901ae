"""The ``dopplerflow`` command."""

from .common import (  # noqa: F401
    COMMANDS,
    _Progress,
    add_analysis_arguments,
    add_output_arguments,
    build_parser,
    check_outputs,
    check_writable,
    main,
    print_summary,
    settings_from_args,
    trace_wanted,
    write_outputs,
)
