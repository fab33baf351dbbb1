//! The names of the screens, apart from the screens themselves, so background jobs can
//! say whose they are without importing the screens.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScreenId {
    Curate,
    Runs,
    Compare,
    Eval,
}

impl ScreenId {
    pub const ALL: [ScreenId; 4] = [Self::Curate, Self::Runs, Self::Compare, Self::Eval];
}
