#version 330 core
// The neural layer: the decoded frame (a small texture, values -1..1) sampled at output
// resolution with a Catmull-Rom bicubic filter, through fit/fill, zoom, rotation, mirror and
// kaleidoscope folds computed per output pixel (so seams stay one pixel sharp).
in vec2 image_uv;
out vec4 colour;

uniform sampler2D decoded;      // RGB float, row 0 = top, linear filter, clamped
uniform vec2 target_size;       // pixels of the render target
uniform float source_scale;     // canvas units -> source units (fit/fill)
uniform mat2 rotozoom;          // rotation and 1/zoom, applied to folded canvas coordinates
uniform int mirror;             // 0 off, 1 horizontal, 2 vertical, 3 quad
uniform int segments;           // kaleidoscope wedges (< 2: off)
uniform bool outside_black;     // fit mode: nothing outside the square

const float PI = 3.14159265358979;

vec2 fold(vec2 p) {
    if (segments >= 2) {
        float wedge = 2.0 * PI / float(segments);
        float angle = mod(atan(p.y, p.x), wedge);
        angle = angle > 0.5 * wedge ? wedge - angle : angle;  // mirrored inside the wedge
        p = length(p) * vec2(cos(angle), sin(angle));
    }
    if (mirror == 1 || mirror == 3) p.x = -abs(p.x);
    if (mirror == 2 || mirror == 3) p.y = -abs(p.y);
    return p;
}

// Catmull-Rom in nine bilinear taps: the middle two weights of each axis are merged into one
// linear fetch placed between their texels (exact for this kernel, whose middle weights have
// the same sign).
vec3 bicubic(sampler2D image, vec2 uv) {
    vec2 size = vec2(textureSize(image, 0));
    vec2 position = uv * size;
    vec2 centre = floor(position - 0.5) + 0.5;
    vec2 f = position - centre;
    vec2 w0 = f * (-0.5 + f * (1.0 - 0.5 * f));
    vec2 w1 = 1.0 + f * f * (-2.5 + 1.5 * f);
    vec2 w2 = f * (0.5 + f * (2.0 - 1.5 * f));
    vec2 w3 = f * f * (-0.5 + 0.5 * f);
    vec2 w12 = w1 + w2;
    vec2 t0 = (centre - 1.0) / size;
    vec2 t12 = (centre + w2 / w12) / size;
    vec2 t3 = (centre + 2.0) / size;
    vec3 sum = vec3(0.0);
    sum += (texture(image, vec2(t0.x, t0.y)).rgb * w0.x
            + texture(image, vec2(t12.x, t0.y)).rgb * w12.x
            + texture(image, vec2(t3.x, t0.y)).rgb * w3.x) * w0.y;
    sum += (texture(image, vec2(t0.x, t12.y)).rgb * w0.x
            + texture(image, vec2(t12.x, t12.y)).rgb * w12.x
            + texture(image, vec2(t3.x, t12.y)).rgb * w3.x) * w12.y;
    sum += (texture(image, vec2(t0.x, t3.y)).rgb * w0.x
            + texture(image, vec2(t12.x, t3.y)).rgb * w12.x
            + texture(image, vec2(t3.x, t3.y)).rgb * w3.x) * w3.y;
    return sum;
}

void main() {
    float aspect = target_size.x / target_size.y;
    vec2 canvas = (image_uv * 2.0 - 1.0) * vec2(aspect, 1.0);   // y down, square units
    vec2 source = rotozoom * fold(canvas) * source_scale;         // -1..1 covers the decode
    vec2 uv = source * 0.5 + 0.5;
    if (outside_black && (any(lessThan(uv, vec2(0.0))) || any(greaterThan(uv, vec2(1.0))))) {
        colour = vec4(0.0, 0.0, 0.0, 1.0);
        return;
    }
    uv = 1.0 - abs(1.0 - mod(uv, 2.0));  // zoomed out: the picture reflected, no edge smear
    vec3 rgb = bicubic(decoded, uv) * 0.5 + 0.5;  // decoded -1..1 -> 0..1
    colour = vec4(rgb, 1.0);
}
