//! The AWS clients, built with an endpoint resolver that answers the common case without the SDK's partition
//! table.
//!
//! Each SDK crate's default endpoint resolver parses the partition table (a JSON document, with a regular
//! expression per partition) the first time it resolves an endpoint: once per crate per container, about a
//! sixth of a function's init instructions for each crate init or the first request uses (callgrind,
//! `docs/benchmarks.md`). For what a deployment almost always needs, the address is a format string: an
//! explicit endpoint (`AWS_ENDPOINT_URL`: moto, a VPC endpoint) is used as given, and a region of the commercial
//! partition (`us-east-1`, `eu-west-2`, ...) gets `https://<service>.<region>.amazonaws.com`. Everything else
//! (FIPS, dual-stack, GovCloud, China, the ISO partitions, DynamoDB's account-based endpoints, an unknown region)
//! goes to the SDK's own resolver, unchanged. The tests check the answers equal the SDK's for every region of
//! the commercial partition and the explicit-endpoint case.

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::endpoint::EndpointFuture;
use aws_smithy_types::endpoint::Endpoint;

/// The commercial partition's region prefixes (its `regionRegex`, `^(us|eu|ap|sa|ca|me|af)-\w+-\d+$`, plus the
/// regions it lists by name outside it, `il-central-1` and `mx-central-1`).
const COMMERCIAL_PREFIXES: [&str; 9] = ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"];

/// `region` is a region of AWS's commercial partition, by the shape the partition table gives its regions:
/// three parts, a known prefix, a word, a number. (`us-gov-west-1` and `us-iso-east-1` have four.)
fn is_commercial_region(region: &str) -> bool {
    let mut parts = region.split('-');
    let (Some(prefix), Some(name), Some(number), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    COMMERCIAL_PREFIXES.contains(&prefix)
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The endpoint for the common case, or `None` for the SDK's resolver to decide.
fn common_endpoint(
    service: &str,
    region: Option<&str>,
    endpoint: Option<&str>,
    use_fips: Option<bool>,
    use_dual_stack: Option<bool>,
) -> Option<Endpoint> {
    if use_fips == Some(true) || use_dual_stack == Some(true) {
        return None;
    }
    let url = match (endpoint, region) {
        (Some(endpoint), _) => endpoint.to_owned(),
        (None, Some(region)) if is_commercial_region(region) => format!("https://{service}.{region}.amazonaws.com"),
        _ => return None,
    };
    Some(Endpoint::builder().url(url).build())
}

/// A resolver for one SDK crate: [`common_endpoint`] first, the crate's default resolver for the rest.
/// `$defer` names the crate-specific parameters that hand a request to the default resolver.
macro_rules! resolver {
    ($(#[$doc:meta])* $name:ident, $krate:ident, $service:literal, |$params:ident| $defer:expr) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        pub struct $name {
            /// Built on first use: building the SDK's default resolver parses the partition table.
            sdk_default: std::sync::OnceLock<$krate::config::endpoint::DefaultResolver>,
        }

        impl $krate::config::endpoint::ResolveEndpoint for $name {
            fn resolve_endpoint<'a>(&'a self, params: &'a $krate::config::endpoint::Params) -> EndpointFuture<'a> {
                let $params = params;
                let common = if $defer {
                    None
                } else {
                    common_endpoint(
                        $service,
                        params.region(),
                        params.endpoint(),
                        params.use_fips(),
                        params.use_dual_stack(),
                    )
                };
                match common {
                    Some(endpoint) => EndpointFuture::ready(Ok(endpoint)),
                    None => self.sdk_default.get_or_init($krate::config::endpoint::DefaultResolver::new).resolve_endpoint(params),
                }
            }
        }
    };
}

resolver!(
    /// DynamoDB. Account-based endpoints (an account ID from the credentials, or a table named by its ARN)
    /// are the SDK's to resolve; a table named by its name, as weft's is, is not an ARN.
    DynamoDbEndpoints,
    aws_sdk_dynamodb,
    "dynamodb",
    |p| p.account_id().is_some()
        || p.resource_arn().is_some_and(|arn| arn.starts_with("arn:"))
        || p.resource_arn_list().is_some_and(|arns| !arns.is_empty())
        || p.is_search_operation() == Some(true)
);
resolver!(
    /// Secrets Manager.
    SecretsManagerEndpoints,
    aws_sdk_secretsmanager,
    "secretsmanager",
    |p| { let _ = p; false }
);
resolver!(
    /// KMS.
    KmsEndpoints,
    aws_sdk_kms,
    "kms",
    |p| { let _ = p; false }
);
resolver!(
    /// SQS.
    SqsEndpoints,
    aws_sdk_sqs,
    "sqs",
    |p| { let _ = p; false }
);
resolver!(
    /// EventBridge. Global endpoints (an endpoint ID) are the SDK's to resolve.
    EventBridgeEndpoints,
    aws_sdk_eventbridge,
    "events",
    |p| p.endpoint_id().is_some()
);
resolver!(
    /// Lambda.
    LambdaEndpoints,
    aws_sdk_lambda,
    "lambda",
    |p| { let _ = p; false }
);

/// A DynamoDB client on the shared configuration, with [`DynamoDbEndpoints`].
pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk).endpoint_resolver(DynamoDbEndpoints::default()).build(),
    )
}

/// A Secrets Manager client on the shared configuration, with [`SecretsManagerEndpoints`].
pub fn secrets_manager(sdk: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk)
            .endpoint_resolver(SecretsManagerEndpoints::default())
            .build(),
    )
}

/// A KMS client on the shared configuration, with [`KmsEndpoints`].
pub fn kms(sdk: &SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(sdk).endpoint_resolver(KmsEndpoints::default()).build(),
    )
}

/// An SQS client on the shared configuration, with [`SqsEndpoints`].
pub fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk).endpoint_resolver(SqsEndpoints::default()).build(),
    )
}

/// An EventBridge client on the shared configuration, with [`EventBridgeEndpoints`].
pub fn eventbridge(sdk: &SdkConfig) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(sdk).endpoint_resolver(EventBridgeEndpoints::default()).build(),
    )
}

/// A Lambda client on the shared configuration, with [`LambdaEndpoints`].
pub fn lambda(sdk: &SdkConfig) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(sdk).endpoint_resolver(LambdaEndpoints::default()).build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every region the SDK's partition table lists for the commercial partition (and a future one of the same
    /// shape), and regions of other partitions and malformed ones, which must go to the SDK.
    const REGIONS: [&str; 44] = [
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-newplace-9",
        "us-gov-west-1",
        "us-gov-east-1",
        "cn-north-1",
        "cn-northwest-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "eusc-de-east-1",
        "aws-global",
        "local",
        "us-east-one",
    ];

    /// Our resolver's answer and the SDK's agree wherever ours answers, and ours answers for the commercial
    /// regions and explicit endpoints without FIPS or dual-stack.
    macro_rules! agrees_with_the_sdk {
        ($test:ident, $resolver:ident, $krate:ident, |$b:ident| $extra:expr) => {
            #[tokio::test]
            async fn $test() {
                use $krate::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
                let ours = $resolver::default();
                let sdk = DefaultResolver::new();
                let mut answered = 0;
                for region in REGIONS {
                    for endpoint in [None, Some("http://127.0.0.1:5000"), Some("https://vpce-1.example.com")] {
                        for fips in [false, true] {
                            for dual_stack in [false, true] {
                                let $b = Params::builder()
                                    .region(region)
                                    .use_fips(fips)
                                    .use_dual_stack(dual_stack)
                                    .set_endpoint(endpoint.map(str::to_owned));
                                let params = $extra.build().expect("valid parameters");
                                let common = common_endpoint(
                                    "x",
                                    params.region(),
                                    params.endpoint(),
                                    params.use_fips(),
                                    params.use_dual_stack(),
                                );
                                let expected = sdk.resolve_endpoint(&params).await.map_err(|e| e.to_string());
                                let got = ours.resolve_endpoint(&params).await.map_err(|e| e.to_string());
                                assert_eq!(got, expected, "{params:?}");
                                if common.is_some() {
                                    answered += 1;
                                }
                            }
                        }
                    }
                }
                // 34 commercial-shaped regions without an endpoint, 44 regions with each of 2 endpoints.
                assert_eq!(answered, 34 + 44 * 2);
            }
        };
    }

    agrees_with_the_sdk!(dynamodb_agrees, DynamoDbEndpoints, aws_sdk_dynamodb, |b| b.resource_arn("weft-table"));
    agrees_with_the_sdk!(secrets_manager_agrees, SecretsManagerEndpoints, aws_sdk_secretsmanager, |b| b);
    agrees_with_the_sdk!(kms_agrees, KmsEndpoints, aws_sdk_kms, |b| b);
    agrees_with_the_sdk!(sqs_agrees, SqsEndpoints, aws_sdk_sqs, |b| b);
    agrees_with_the_sdk!(eventbridge_agrees, EventBridgeEndpoints, aws_sdk_eventbridge, |b| b);
    agrees_with_the_sdk!(lambda_agrees, LambdaEndpoints, aws_sdk_lambda, |b| b);

    #[test]
    fn only_the_commercial_partitions_shape_is_common() {
        assert!(is_commercial_region("us-east-1"));
        assert!(is_commercial_region("ap-southeast-5"));
        for region in [
            "us-gov-west-1",
            "cn-north-1",
            "us-iso-east-1",
            "eusc-de-east-1",
            "local",
            "us-east-x",
            "us--1",
            "us-east-one",
        ] {
            assert!(!is_commercial_region(region), "{region}");
        }
    }

    #[tokio::test]
    async fn account_based_dynamodb_endpoints_are_the_sdks() {
        use aws_sdk_dynamodb::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let params = Params::builder()
            .region("us-east-1")
            .account_id("111122223333")
            .account_id_endpoint_mode("preferred")
            .resource_arn("weft-table")
            .build()
            .expect("valid parameters");
        let expected = DefaultResolver::new().resolve_endpoint(&params).await.expect("resolves");
        let got = DynamoDbEndpoints::default().resolve_endpoint(&params).await.expect("resolves");
        assert_eq!(got, expected);
        assert!(got.url().contains("111122223333"), "{}", got.url());
    }

    /// The common case never builds the SDK's resolver (building it parses the partition table).
    #[tokio::test]
    async fn the_common_case_leaves_the_sdks_resolver_unbuilt() {
        use aws_sdk_dynamodb::config::endpoint::{Params, ResolveEndpoint};
        let ours = DynamoDbEndpoints::default();
        let params = Params::builder().region("eu-west-2").resource_arn("weft-table").build().expect("valid");
        let endpoint = ours.resolve_endpoint(&params).await.expect("resolves");
        assert_eq!(endpoint.url(), "https://dynamodb.eu-west-2.amazonaws.com");
        assert!(ours.sdk_default.get().is_none());
        let fips = Params::builder().region("eu-west-2").use_fips(true).resource_arn("t").build().expect("valid");
        ours.resolve_endpoint(&fips).await.expect("resolves");
        assert!(ours.sdk_default.get().is_some());
    }
}
