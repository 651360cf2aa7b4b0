#version 330 core
// A panel rendered earlier into its own texture (premultiplied alpha, same size as the
// viewport), copied 1:1 onto the target; blended with (ONE, ONE_MINUS_SRC_ALPHA).

uniform sampler2D panel;
uniform ivec2 origin;  // the viewport's lower-left corner in target pixels

out vec4 frag;

void main() {
    frag = texelFetch(panel, ivec2(gl_FragCoord.xy) - origin, 0);
}
