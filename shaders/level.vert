#version 330 core
// A quad covering the current viewport (the whole output), built from gl_VertexID.

void main() {
    vec2 corner = vec2(gl_VertexID & 1, gl_VertexID >> 1);
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
