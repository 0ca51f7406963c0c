//! Bot webhooks (seed 004): the chat context sent to a bot and the answer it gives back.

pub mod answer;
pub mod context;
pub mod settle;
