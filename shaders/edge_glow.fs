/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Edge glow: the picture's outlines light up like neon tubes over a darkened copy of it. Soft neural images have few hard edges, so the threshold is low and the edge width wide.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Stylize"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "edgeWidth", "TYPE": "float", "LABEL": "Edge width (pixels)", "MIN": 0.5, "MAX": 6.0, "DEFAULT": 1.5},
        {"NAME": "threshold", "TYPE": "float", "LABEL": "Threshold", "MIN": 0.0, "MAX": 0.5, "DEFAULT": 0.04},
        {"NAME": "glowAmount", "TYPE": "float", "LABEL": "Glow amount", "MIN": 0.0, "MAX": 8.0, "DEFAULT": 3.0},
        {"NAME": "glowColor", "TYPE": "color", "LABEL": "Glow colour", "DEFAULT": [0.3, 0.8, 1.0, 1.0]},
        {"NAME": "glowImageColor", "TYPE": "float", "LABEL": "Glow takes image colour", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.5},
        {"NAME": "imageLevel", "TYPE": "float", "LABEL": "Picture under the glow", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.25}
    ]
}*/

// Cost: five texture fetches per pixel: the centre and four diagonal neighbours (a Roberts
// cross on both diagonals), which with bilinear filtering at edgeWidth > 1 also averages.

float luminance(vec3 c) { return dot(c, vec3(0.2126, 0.7152, 0.0722)); }

void main() {
    vec2 uv = isf_FragNormCoord;
    vec2 step_ = edgeWidth / RENDERSIZE;
    vec4 centre = IMG_NORM_PIXEL(inputImage, uv);
    float a = luminance(IMG_NORM_PIXEL(inputImage, uv + vec2(-step_.x, step_.y)).rgb);
    float b = luminance(IMG_NORM_PIXEL(inputImage, uv + vec2(step_.x, step_.y)).rgb);
    float c = luminance(IMG_NORM_PIXEL(inputImage, uv + vec2(-step_.x, -step_.y)).rgb);
    float d = luminance(IMG_NORM_PIXEL(inputImage, uv + vec2(step_.x, -step_.y)).rgb);
    float gradient = length(vec2(a - d, b - c));
    float edge = max(gradient - threshold, 0.0) * glowAmount;
    vec3 tint = mix(glowColor.rgb, centre.rgb * 2.0, glowImageColor);
    vec3 colour = centre.rgb * imageLevel + tint * edge;
    gl_FragColor = vec4(colour, centre.a);
}
