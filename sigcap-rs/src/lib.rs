//! sigcap: catch capability-mode violations and fall back to a broker.
