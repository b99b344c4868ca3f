use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use publisher::{Publisher, PublisherConfig, events_client, handle};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    credits::app::init_logging();
    let config = PublisherConfig::from_env()?;
    let sdk = credits::config::aws().await;
    let (dynamodb, _) = credits::app::clients(&sdk, None);
    let store = credits::store::Store::new(dynamodb, config.app.table);
    let settings = &config.publish;
    let publisher = &Publisher::new(store, events_client(&sdk, None), settings.bus.clone());
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(handle(publisher, settings, event.payload, chrono::Utc::now()).await?)
    }))
    .await
}
