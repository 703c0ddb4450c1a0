//! Which Mautic the simulator is: the behaviours that differ between Mautic 5 (read from
//! mautic/mautic 5.1.0) and the newer majors (the behaviours Mautic's newer functional tests
//! pin, MAUTIC-CONTRACT.md "N"). Every rule that depends on the version asks the profile here,
//! so a reader finds each difference, with its source, in one place.

/// A Mautic version profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MauticProfile {
    /// Mautic 5.x, as mautic/mautic 5.1.0 behaves.
    #[default]
    V5,
    /// The newer majors: the behaviours of the newer commits MAUTIC-CONTRACT.md names.
    Newer,
}

impl MauticProfile {
    pub const ALL: [MauticProfile; 2] = [MauticProfile::V5, MauticProfile::Newer];

    /// The `Mautic-Version` header (`FetchCommonApiController::view` adds it to every answer).
    pub fn version(self) -> &'static str {
        match self {
            MauticProfile::V5 => "5.1.0",
            MauticProfile::Newer => "7.0.0",
        }
    }

    /// Date-time input keeps its seconds. 5.1's `RequestTrait::prepareParametersFromRequest`
    /// formats a date-time as `Y-m-d H:i` (`RequestTraitTest::testDatTimePrepareParametersFromRequest`:
    /// `'2023-01-01 21:00:00'` -> `'2023-01-01 21:00'`), and the form stores `H:i:00`; newer
    /// versions keep the seconds (API-NOTES.md).
    pub fn keeps_seconds(self) -> bool {
        self == MauticProfile::Newer
    }

    /// A value that is numeric and casts to the integer 0 is dropped from a contact POST or
    /// PATCH (5.1 `CustomFieldsApiControllerTrait::setCustomFieldValues`); newer versions store
    /// it (`LeadApiZeroValueFunctionalTest` @00b3ba55: PATCH number 0 -> 0, text '0' kept).
    pub fn drops_zeros(self) -> bool {
        self == MauticProfile::V5
    }

    /// `POST /api/companies/batch/new` finds an existing company by the company unique
    /// identifier fields and updates it (PR mautic/mautic#12273,
    /// `CompanyApiControllerFunctionalTest` @0a79513f). In 5.1 every item is a new company
    /// (`FetchCommonApiController::getNewEntity` hands out a new entity), so an item whose name
    /// is taken fails with 422 "companyname: This field must be unique." (`Company`'s
    /// `UniqueCustomField` constraint).
    pub fn company_batch_matches(self) -> bool {
        self == MauticProfile::Newer
    }

    /// A batch edit of a contact merged into another edits the winner and answers its id
    /// (`LeadApiControllerFunctionalTest::testBatchPutEndpointCanHandleMergedContacts`
    /// @005396c6, probably PR #15447). In 5.1 the batch reads its contacts with `id IN (...)`:
    /// a merged-away id is not found (404). Single edits and GET follow merges in both
    /// (`LeadModel::getEntity` falls back to `contact_merge_records`).
    pub fn batch_edit_follows_merges(self) -> bool {
        self == MauticProfile::Newer
    }
}

/// How several unique identifier fields combine when Mautic looks for "the same" record
/// (`contact_unique_identifiers_operator` / `company_unique_identifiers_operator`,
/// `LeadBundle/Config/config.php:965-966`, OR by default; `CustomFieldRepositoryTrait::
/// getUniqueIdentifiersWherePart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UniqueOperator {
    #[default]
    Or,
    And,
}
