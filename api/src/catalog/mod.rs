//! What the service knows about providers and models: the provider/api catalog with
//! `model_config` validation ([`model_config`]) and the price table that costs calls
//! ([`pricing`]).

pub mod model_config;
pub mod pricing;
