package narrate

import (
	"context"
	"errors"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

type echoKeyAPI struct{ key string }

func (a echoKeyAPI) CreateChatCompletion(context.Context, openai.ChatCompletionRequest) (openai.ChatCompletionResponse, error) {
	return openai.ChatCompletionResponse{}, &openai.APIError{HTTPStatusCode: 401, Message: "key " + a.key + " is revoked"}
}

// TestClientScrubsEchoedKey: a server that echoes the whole key back in its error
// does not put the key in warroom's error.
func TestClientScrubsEchoedKey(t *testing.T) {
	const key = "test-echoed-1234567890"
	c := newClient(echoKeyAPI{key: key}, ClientOptions{Model: "m", APIKey: key})
	_, err := c.Complete(context.Background(), Prompt{System: "s", User: "u"})
	var apiErr *openai.APIError
	if err == nil || strings.Contains(err.Error(), key) || !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 401 {
		t.Fatalf("error %v", err)
	}
}
