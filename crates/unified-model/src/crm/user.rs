//! The unified user: a person with a seat in the vendor system (read-only in v1).

unified_record! {
    /// A person with a seat in the vendor system, who can own records. Read-only in v1.
    pub struct User {
        /// Full name.
        pub name: Option<String>,
        /// Given name.
        pub first_name: Option<String>,
        /// Family name.
        pub last_name: Option<String>,
        /// Login or work email address.
        pub email: Option<String>,
        /// False when the seat is deactivated.
        pub is_active: Option<bool>,
        /// Job title.
        pub title: Option<String>,
    }
}
