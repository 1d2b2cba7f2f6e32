//! Which role a caller assumes at STS: named by a claim of their token, or mapped from a claim
//! value (a group, a tenant) by configuration. STS's trust policy has the last word either way.

use serde_json::Value;

use super::RoleMapping;
use crate::auth::VerifiedToken;

pub struct RoleChoice {
    arn_claim: Option<String>,
    mappings: Vec<RoleMapping>,
}

impl RoleChoice {
    /// `None` when neither a claim nor a mapping is configured: no caller could get a role.
    pub fn new(arn_claim: Option<String>, mappings: Vec<RoleMapping>) -> Option<Self> {
        (arn_claim.is_some() || !mappings.is_empty()).then_some(Self {
            arn_claim,
            mappings,
        })
    }

    /// The role ARN for this token, or why there is none (naming the claims looked at).
    pub fn role_for(&self, token: &VerifiedToken) -> Result<String, String> {
        if let Some(claim) = &self.arn_claim
            && let Some(Value::String(arn)) = token.claim(claim)
        {
            return Ok(arn.clone());
        }
        if let Some(mapping) = self
            .mappings
            .iter()
            .find(|m| claim_has_value(token.claim(&m.claim), &m.value))
        {
            return Ok(mapping.role_arn.clone());
        }
        let mut looked_at = Vec::new();
        if let Some(claim) = &self.arn_claim {
            looked_at.push(format!("the token has no `{claim}` claim naming a role"));
        }
        let mut mapped_claims: Vec<&str> = Vec::new();
        for mapping in &self.mappings {
            if !mapped_claims.contains(&mapping.claim.as_str()) {
                mapped_claims.push(&mapping.claim);
            }
        }
        if !mapped_claims.is_empty() {
            let claims = mapped_claims
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ");
            looked_at.push(format!(
                "no value of its {claims} claim is mapped to a role by --role-map"
            ));
        }
        Err(looked_at.join(", and "))
    }
}

/// A string claim equal to `value`, or a list claim (e.g. groups) containing it.
fn claim_has_value(claim: Option<&Value>, value: &str) -> bool {
    match claim {
        Some(Value::String(text)) => text == value,
        Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(value)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::RoleChoice;
    use crate::auth::VerifiedToken;
    use crate::credentials::RoleMapping;
    use serde_json::json;

    fn token(claims: Value) -> VerifiedToken {
        let Value::Object(claims) = claims else {
            unreachable!("claims are an object")
        };
        VerifiedToken::new("header.payload.signature", claims)
    }

    fn mapping(text: &str) -> RoleMapping {
        text.parse().unwrap()
    }

    #[test]
    fn the_arn_claim_wins_over_mappings() {
        let choice = RoleChoice::new(
            Some("role_arn".into()),
            vec![mapping("groups=a=arn:aws:iam::1:role/A")],
        )
        .unwrap();
        let token = token(json!({"role_arn": "arn:aws:iam::1:role/Own", "groups": ["a"]}));
        assert_eq!(choice.role_for(&token).unwrap(), "arn:aws:iam::1:role/Own");
    }

    #[test]
    fn first_matching_mapping_is_used_for_string_and_list_claims() {
        let choice = RoleChoice::new(
            None,
            vec![
                mapping("tenant=acme=arn:aws:iam::1:role/Acme"),
                mapping("groups=b=arn:aws:iam::1:role/B"),
            ],
        )
        .unwrap();
        assert_eq!(
            choice
                .role_for(&token(json!({"groups": ["x", "b"]})))
                .unwrap(),
            "arn:aws:iam::1:role/B"
        );
        let both = token(json!({"tenant": "acme", "groups": ["b"]}));
        assert_eq!(choice.role_for(&both).unwrap(), "arn:aws:iam::1:role/Acme");
    }

    #[test]
    fn no_role_names_the_claims_looked_at() {
        let choice = RoleChoice::new(
            Some("role_arn".into()),
            vec![mapping("groups=a=arn:aws:iam::1:role/A")],
        )
        .unwrap();
        let why = choice
            .role_for(&token(json!({"groups": ["z"]})))
            .unwrap_err();
        assert!(
            why.contains("`role_arn`") && why.contains("`groups`"),
            "{why}"
        );
    }

    #[test]
    fn nothing_configured_means_no_choice() {
        assert!(RoleChoice::new(None, Vec::new()).is_none());
    }
}
