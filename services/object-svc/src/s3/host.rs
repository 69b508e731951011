//! Virtual-hosted-style addressing: `<bucket>.<base domain>[:port]` names the
//! bucket; any other host (an IP address, `localhost`, the base domain itself) is
//! path-style. s3s's own SingleDomain would take any other valid host name as a
//! bucket (CNAME style), which breaks path-style URLs on `localhost`.

use s3s::{
    S3Result,
    host::{S3Host, VirtualHost},
};

pub struct BaseDomain(pub String);

impl S3Host for BaseDomain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let bucket = name
            .strip_suffix(self.0.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|bucket| !bucket.is_empty());
        Ok(match bucket {
            Some(bucket) => VirtualHost::new(self.0.as_str()).with_bucket(bucket),
            None => VirtualHost::new(name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_of(host: &str) -> Option<String> {
        let domain = BaseDomain("s3.keyhold.local".to_owned());
        domain
            .parse_host_header(host)
            .unwrap()
            .bucket()
            .map(str::to_owned)
    }

    #[test]
    fn only_subdomains_of_the_base_domain_name_buckets() {
        assert_eq!(
            bucket_of("photos.s3.keyhold.local:9000").as_deref(),
            Some("photos")
        );
        assert_eq!(bucket_of("a.b.s3.keyhold.local").as_deref(), Some("a.b"));
        assert_eq!(bucket_of("s3.keyhold.local:9000"), None);
        assert_eq!(bucket_of("localhost:9000"), None);
        assert_eq!(bucket_of("evil-s3.keyhold.local"), None);
    }
}
