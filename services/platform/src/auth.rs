//! Who is calling: `authorization: Bearer <access-key-id>:<secret-access-key>`, and,
//! from service principals only, the user they act for.

use std::sync::Arc;

use http::HeaderMap;

use crate::{
    error::AwsError,
    principals::{Principal, PrincipalKind, Principals},
};

pub const AUTHORIZATION_HEADER: &str = "authorization";
/// Sent by a service principal (object-svc) calling kms-svc for an end user; carries
/// the user's ARN. Honoured only from service principals.
pub const ON_BEHALF_OF_HEADER: &str = "x-keyhold-on-behalf-of";

/// Sent by a service principal delivering for one of its resources (a trail): the
/// resource's ARN and account, which bucket policies test as `aws:SourceArn` and
/// `aws:SourceAccount`. Honoured only from service principals.
pub const SOURCE_ARN_HEADER: &str = "x-keyhold-source-arn";
pub const SOURCE_ACCOUNT_HEADER: &str = "x-keyhold-source-account";

/// The authenticated caller of one request, in the request's extensions.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Whose permissions apply: the user, also when a service calls for them.
    pub principal: Arc<Principal>,
    /// The service principal that made the call on the user's behalf.
    pub via: Option<Arc<Principal>>,
}

impl Caller {
    /// The service name a user's call came through (`kms:ViaService`, `invokedBy`).
    pub fn via_service(&self) -> Option<&str> {
        self.via
            .as_ref()
            .and_then(|service| service.service.as_deref())
    }
}

/// What a TLS connection says about its caller, in the request's extensions (absent
/// on plaintext connections): the service its verified client certificate names by
/// its URI SAN `spiffe://keyhold/service/<name>`, if any.
#[derive(Clone, Debug, Default)]
pub struct TlsPeer {
    pub service: Option<String>,
}

/// Authenticates one request from its headers and, over TLS, its client certificate.
///
/// A certificate naming a service authenticates as that `AWSService` principal; a
/// bearer credential sent with it must name the same principal. Over TLS a service
/// principal authenticates only by its certificate, so that what only services may
/// do (act for a user, name the resource they act for, internal calls) needs the
/// certificate whenever the port serves TLS.
pub fn authenticate(
    principals: &Principals,
    headers: &HeaderMap,
    tls: Option<&TlsPeer>,
) -> Result<Caller, AwsError> {
    let certified = match tls.and_then(|peer| peer.service.as_deref()) {
        Some(name) => Some(
            principals
                .find(name)
                .filter(|principal| principal.kind == PrincipalKind::Service)
                .ok_or_else(AwsError::unauthenticated)?,
        ),
        None => None,
    };
    let bearer = if headers.contains_key(AUTHORIZATION_HEADER) || certified.is_none() {
        Some(bearer_principal(principals, headers).ok_or_else(AwsError::unauthenticated)?)
    } else {
        None
    };
    let principal = match (certified, bearer) {
        (Some(certified), Some(bearer)) if !Arc::ptr_eq(certified, bearer) => {
            return Err(AwsError::unauthenticated());
        }
        (Some(certified), _) => certified,
        (None, Some(bearer)) => {
            if tls.is_some() && bearer.kind == PrincipalKind::Service {
                return Err(AwsError::unauthenticated());
            }
            bearer
        }
        (None, None) => return Err(AwsError::unauthenticated()),
    };
    let Some(on_behalf) = headers.get(ON_BEHALF_OF_HEADER) else {
        return Ok(Caller {
            principal: principal.clone(),
            via: None,
        });
    };
    if principal.kind != PrincipalKind::Service {
        return Err(AwsError::access_denied(format!(
            "{ON_BEHALF_OF_HEADER} is honoured only from service principals; {} is not one",
            principal.arn
        )));
    }
    let user = on_behalf
        .to_str()
        .ok()
        .and_then(|arn| principals.find(arn))
        .ok_or_else(|| {
            AwsError::access_denied(format!("{ON_BEHALF_OF_HEADER} names no known principal"))
        })?;
    Ok(Caller {
        principal: user.clone(),
        via: Some(principal.clone()),
    })
}

fn bearer_principal<'p>(
    principals: &'p Principals,
    headers: &HeaderMap,
) -> Option<&'p Arc<Principal>> {
    let value = headers.get(AUTHORIZATION_HEADER)?.to_str().ok()?;
    let credentials = value.strip_prefix("Bearer ")?;
    let (access_key_id, secret) = credentials.split_once(':')?;
    let principal = principals.by_access_key(access_key_id)?;
    principal.secret_matches(secret).then_some(principal)
}

/// The access key id a request presented, authenticated or not, for audit records.
pub fn presented_access_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION_HEADER)?.to_str().ok()?;
    let (access_key_id, _) = value.strip_prefix("Bearer ")?.split_once(':')?;
    Some(access_key_id.to_owned())
}

/// The header value a client sends: `Bearer <akid>:<secret>`.
pub fn bearer_value(access_key_id: &str, secret_access_key: &str) -> String {
    format!("Bearer {access_key_id}:{secret_access_key}")
}

/// Client side: adds a principal's credentials (and, for a service principal, the
/// user it acts for) to every request of a tonic client.
#[derive(Clone, Default)]
pub struct ClientCredentials {
    authorization: Option<tonic::metadata::AsciiMetadataValue>,
    on_behalf_of: Option<tonic::metadata::AsciiMetadataValue>,
    /// A service principal's resource it acts for (`aws:SourceArn`, `aws:SourceAccount`).
    source: Option<(
        tonic::metadata::AsciiMetadataValue,
        tonic::metadata::AsciiMetadataValue,
    )>,
}

impl ClientCredentials {
    /// No credentials at all: what an anonymous caller sends.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Panics on credentials that are not ASCII, which no principals file holds.
    pub fn new(access_key_id: &str, secret_access_key: &str) -> Self {
        let value = bearer_value(access_key_id, secret_access_key)
            .parse()
            .expect("credentials are ASCII");
        ClientCredentials {
            authorization: Some(value),
            ..Self::default()
        }
    }

    /// A service principal's credentials if it has keys, else none: over TLS its
    /// client certificate says who it is.
    pub fn service(credentials: Option<(&str, &str)>) -> Self {
        match credentials {
            Some((access_key_id, secret_access_key)) => Self::new(access_key_id, secret_access_key),
            None => Self::anonymous(),
        }
    }

    /// A service principal's credentials, acting for the user `user_arn`.
    pub fn on_behalf_of(mut self, user_arn: &str) -> Self {
        self.on_behalf_of = Some(user_arn.parse().expect("ARNs are ASCII"));
        self
    }

    /// A service principal's credentials, acting for its own resource `arn` of
    /// `account` (a trail delivering log files), which bucket policies may test.
    pub fn for_source(mut self, arn: &str, account: &str) -> Self {
        self.source = Some((
            arn.parse().expect("ARNs are ASCII"),
            account.parse().expect("account ids are ASCII"),
        ));
        self
    }
}

impl tonic::service::Interceptor for ClientCredentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert(AUTHORIZATION_HEADER, value.clone());
        }
        if let Some(value) = &self.on_behalf_of {
            request
                .metadata_mut()
                .insert(ON_BEHALF_OF_HEADER, value.clone());
        }
        if let Some((arn, account)) = &self.source {
            request
                .metadata_mut()
                .insert(SOURCE_ARN_HEADER, arn.clone());
            request
                .metadata_mut()
                .insert(SOURCE_ACCOUNT_HEADER, account.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = include_str!("../../../deploy/dev/principals.json");

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn every_bad_credential_fails_the_same_way() {
        let principals = Principals::parse(DEV).unwrap();
        let cases = [
            headers(&[]),
            headers(&[("authorization", "Bearer AKIAKEYHOLDDEVUSER01:wrong")]),
            headers(&[(
                "authorization",
                "Bearer AKIAUNKNOWN000000000:dev-only-root-secret-not-for-production",
            )]),
            headers(&[("authorization", "Basic abc")]),
            headers(&[("authorization", "Bearer AKIAKEYHOLDDEVUSER01")]),
        ];
        for case in cases {
            assert_eq!(
                authenticate(&principals, &case, None).unwrap_err(),
                AwsError::unauthenticated()
            );
        }
    }

    #[test]
    fn a_service_acts_for_a_user_but_a_user_cannot() {
        let principals = Principals::parse(DEV).unwrap();
        let service = headers(&[
            (
                "authorization",
                "Bearer AKIAKEYHOLDDEVOBJSVC:dev-only-object-svc-secret-not-for-production",
            ),
            (
                "x-keyhold-on-behalf-of",
                "arn:aws:iam::000000000000:user/AWSLabsUser-0001",
            ),
        ]);
        let caller = authenticate(&principals, &service, None).unwrap();
        assert_eq!(caller.principal.name, "AWSLabsUser-0001");
        assert_eq!(caller.via_service(), Some("s3.amazonaws.com"));

        let user = headers(&[
            (
                "authorization",
                "Bearer AKIAKEYHOLDDEVUSER02:dev-only-user-0002-secret-not-for-production",
            ),
            (
                "x-keyhold-on-behalf-of",
                "arn:aws:iam::000000000000:user/AWSLabsUser-0001",
            ),
        ]);
        assert_eq!(
            authenticate(&principals, &user, None).unwrap_err().code,
            tonic::Code::PermissionDenied
        );
    }

    fn peer(service: Option<&str>) -> TlsPeer {
        TlsPeer {
            service: service.map(str::to_owned),
        }
    }

    const OBJECT_SVC_BEARER: &str =
        "Bearer AKIAKEYHOLDDEVOBJSVC:dev-only-object-svc-secret-not-for-production";
    const USER_BEARER: &str =
        "Bearer AKIAKEYHOLDDEVUSER02:dev-only-user-0002-secret-not-for-production";
    const USER_ARN: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0001";

    #[test]
    fn a_service_certificate_authenticates_and_acts_for_users() {
        let principals = Principals::parse(DEV).unwrap();
        let object_svc = peer(Some("object-svc"));
        let alone = authenticate(&principals, &headers(&[]), Some(&object_svc)).unwrap();
        assert_eq!(alone.principal.name, "object-svc");
        let acting = headers(&[("x-keyhold-on-behalf-of", USER_ARN)]);
        let caller = authenticate(&principals, &acting, Some(&object_svc)).unwrap();
        assert_eq!(caller.principal.name, "AWSLabsUser-0001");
        let agreeing = headers(&[("authorization", OBJECT_SVC_BEARER)]);
        assert!(authenticate(&principals, &agreeing, Some(&object_svc)).is_ok());
    }

    #[test]
    fn over_tls_only_certificates_make_services() {
        let principals = Principals::parse(DEV).unwrap();
        let unauthenticated = |h: &HeaderMap, p: &TlsPeer| {
            authenticate(&principals, h, Some(p)).unwrap_err() == AwsError::unauthenticated()
        };
        // A service's keys without its certificate, a user's certificate, an unknown
        // name, and a bearer that names someone else.
        assert!(unauthenticated(
            &headers(&[("authorization", OBJECT_SVC_BEARER)]),
            &peer(None)
        ));
        assert!(unauthenticated(
            &headers(&[]),
            &peer(Some("AWSLabsUser-0001"))
        ));
        assert!(unauthenticated(&headers(&[]), &peer(Some("nobody"))));
        assert!(unauthenticated(&headers(&[]), &peer(None)));
        assert!(unauthenticated(
            &headers(&[("authorization", USER_BEARER)]),
            &peer(Some("object-svc"))
        ));
        // A user over TLS without a certificate is a user as before, and cannot act
        // for another.
        let user = headers(&[("authorization", USER_BEARER)]);
        assert!(authenticate(&principals, &user, Some(&peer(None))).is_ok());
        let acting = headers(&[
            ("authorization", USER_BEARER),
            ("x-keyhold-on-behalf-of", USER_ARN),
        ]);
        assert_eq!(
            authenticate(&principals, &acting, Some(&peer(None)))
                .unwrap_err()
                .code,
            tonic::Code::PermissionDenied
        );
    }
}
