import Testing

/// The end-to-end tests that take a dependency away or kill a process and time how the stack copes (the mail
/// server down, the broker down, a crash, a failover, a fast clock, poison input). They run one at a time: each
/// measures seconds, and would otherwise measure a machine busy with every other test's stack.
@Suite(.serialized) enum FaultInjection {}
