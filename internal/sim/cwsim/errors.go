package cwsim

import (
	"fmt"
	"net/http"
)

// apiError is an AWS error answer: HTTP status, the awsQuery error code the
// SDKs report (X-Amzn-Query-Error) and a message.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalidValue(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidParameterValue", message: msg}
}

func invalidCombination(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidParameterCombination", message: msg}
}

func validationError(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ValidationError", message: msg}
}

func missing(param string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "MissingParameter",
		message: fmt.Sprintf("The parameter %s is required.", param)}
}

// errorType returns the __type of an error code: for the awsQuery codes of
// CloudWatch's modeled errors, the error's Smithy shape ID, so the SDKs build
// their typed errors (types.InvalidParameterValueException, ...); other
// codes (Throttling, AccessDenied, ...) are unmodeled and travel as they are.
func errorType(code string) string {
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

// queryErrorHeader is the X-Amzn-Query-Error value: the code and who is at
// fault.
func queryErrorHeader(status int, code string) string {
	if status >= 500 {
		return code + ";Receiver"
	}
	return code + ";Sender"
}
