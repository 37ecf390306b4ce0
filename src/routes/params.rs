//! Share ids and usernames as path parameters: a handler receives them parsed, the document
//! gets their patterns from here, and one that does not parse is refused with its own code
//! (`INVALID_ID`, `INVALID_USERNAME`) before the handler runs. White space around them (pasted
//! from a clipboard) is ignored, as everywhere.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromParameter, ParseResult, Type},
};

use crate::domain::{ShareId, Username};

/// A path parameter type: its pattern, and how it parses.
macro_rules! path_parameter {
    ($ty:ty, $pattern:expr) => {
        impl Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    pattern: Some($pattern.to_owned()),
                    ..MetaSchema::new("string")
                }))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                <$ty>::parse(value.trim()).map_err(ParseError::custom)
            }
        }
    };
}

path_parameter!(ShareId, ShareId::PATTERN);
path_parameter!(Username, Username::PATTERN);
