pub static SPECS: [netfn_core::config::ElementSpec; 0] = [];
