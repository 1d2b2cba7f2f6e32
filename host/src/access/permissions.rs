//! A set of [`Permission`]s.

use quilt_mcp_policy::tools::Permission;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions(u8);

impl Permissions {
    pub fn none() -> Self {
        Self(0)
    }

    pub fn all() -> Self {
        Permission::ALL.into_iter().collect()
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & bit(permission) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Its members, from least to most.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |permission| self.contains(*permission))
    }
}

impl Extend<Permission> for Permissions {
    fn extend<I: IntoIterator<Item = Permission>>(&mut self, permissions: I) {
        for permission in permissions {
            self.0 |= bit(permission);
        }
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(permissions: I) -> Self {
        let mut set = Self::none();
        set.extend(permissions);
        set
    }
}

fn bit(permission: Permission) -> u8 {
    1 << permission as u8
}
