#version 330 core
// The finished picture (render size) scaled to the output framebuffer (output size).
in vec2 image_uv;
out vec4 colour;

uniform sampler2D picture;

void main() {
    colour = vec4(texture(picture, image_uv).rgb, 1.0);
}
