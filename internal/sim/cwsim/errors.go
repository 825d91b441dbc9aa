package cwsim

import (
	"fmt"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
	"net/http"
)

// apiError is an AWS error answer: HTTP status, the awsQuery error code the
// SDKs report (X-Amzn-Query-Error) and a message.
type apiError = wire.Error

func invalidValue(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidParameterValue", Message: msg}
}

func invalidCombination(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidParameterCombination", Message: msg}
}

func validationError(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "ValidationError", Message: msg}
}

func missing(param string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "MissingParameter",
		Message: fmt.Sprintf("The parameter %s is required.", param)}
}

// ErrorType returns the __type of an error code: for the awsQuery codes of
// CloudWatch's modeled errors, the error's Smithy shape ID, so the SDKs build
// their typed errors (types.InvalidParameterValueException, ...); other
// codes (Throttling, AccessDenied, ...) are unmodeled and travel as they are.
func ErrorType(code string) string {
	shape := ""
	switch code {
	case "InvalidParameterValue":
		shape = "InvalidParameterValueException"
	case "InvalidParameterCombination":
		shape = "InvalidParameterCombinationException"
	case "MissingParameter":
		shape = "MissingRequiredParameterException"
	case "InvalidNextToken":
		shape = "InvalidNextToken"
	case "InternalServiceError":
		shape = "InternalServiceFault"
	case "LimitExceeded":
		shape = "LimitExceededFault"
	case "ValidationError":
		shape = "ValidationException"
	case "ResourceNotFound":
		shape = "ResourceNotFound"
	default:
		return code
	}
	return "com.amazonaws.cloudwatch#" + shape
}

// Codec is CloudWatch's codec for p (RPC v2 CBOR or awsJson 1.0):
// CloudWatch has the awsQueryCompatible trait, so its errors carry their
// awsQuery code in X-Amzn-Query-Error and its modeled errors their shape id.
func Codec(p wire.Protocol) wire.Codec {
	return wire.Codec{Protocol: p, ErrorType: ErrorType, QueryCompatible: true}
}
