//! dump_messages / load_messages.
